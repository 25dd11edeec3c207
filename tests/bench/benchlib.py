"""What the benches share (each is a script run on demand; this file sits beside them, so each imports it)."""
import shutil
import sys


def percentile(values, q):
    """Nearest rank on the sorted values."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def cleanup(world):
    """World.close(), and whatever it could not stop is killed; the temporary directory goes either way."""
    try:
        world.close()
    except Exception as e:  # noqa: BLE001 - cleanup must go on
        print(f"cleanup: {e!r}", file=sys.stderr)
    for p in (world.gateway.proc if world.gateway else None, world.sim.proc, world.bus):
        if p and p.poll() is None:
            p.kill()
            p.wait(10)
    shutil.rmtree(world.dir, ignore_errors=True)
