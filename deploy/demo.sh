#!/bin/sh
# The demo: builds bandgate and runs it against a simulated Mi Band 2 on a private D-Bus, so nothing on
# this machine's real Bluetooth or system bus is touched. Installs what it needs; safe to run twice.
# It runs the simulator (bandgate-sim) as bluetoothd and the band, then the gateway, which pairs the band (the
# simulated wearer taps it) and keeps it connected; the CLI shows the band reach "ready". A local mosquitto on
# a free loopback port carries everything over MQTT, with Home Assistant discovery; the dashboard listens on
# another free loopback port, and its URL and first-start password are printed.
# Usage: deploy/demo.sh [bandgate-sim options...]     Stop it with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
deploy/install-deps.sh test

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

run=$(mktemp -d /tmp/bandgate-demo.XXXXXX)
cleanup() {
  [ -n "${gw_pid:-}" ] && kill "$gw_pid" 2>/dev/null
  [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null
  [ -n "${bus_pid:-}" ] && kill "$bus_pid" 2>/dev/null
  [ -n "${broker_pid:-}" ] && kill "$broker_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private bus that lets its one user do anything: it plays the system bus for the demo only.
cat > "$run/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$run/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/><allow eavesdrop="true"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$run/bus.conf" --nofork --nopidfile &
bus_pid=$!
address="unix:path=$run/bus"
i=0; while [ ! -S "$run/bus" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

build/release/tests/sim/bandgate-sim --bus "$address" --auto-tap 3 "$@" > "$run/sim.out" &
sim_pid=$!
i=0; while ! grep -q '^ready$' "$run/sim.out" 2>/dev/null; do
  sleep 0.1; i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$sim_pid" 2>/dev/null; then echo "bandgate-sim did not start" >&2; exit 1; fi
done
band=$(sed -n 's/^band //p' "$run/sim.out" | head -n 1)

# A broker of our own on a free loopback port, so that a broker already on this machine is left alone; the
# dashboard on another.
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port=$(free_port)
web_port=$(free_port)
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$run/mosquitto.conf"
mosquitto -c "$run/mosquitto.conf" > "$run/mosquitto.log" 2>&1 &
broker_pid=$!

# The gateway, unchanged, on the private bus: its config keeps its database and API socket in $run.
cat > "$run/bandgate.conf" <<CONF
[gateway]
id = demo
adapter = hci0
database = $run/bandgate.db
bands = $(sed -n 's/^band //p' "$run/sim.out" | tr '\n' ';' | sed 's/;$//')
[mqtt]
host = 127.0.0.1
port = $port
[web]
socket = $run/api.sock
listen = 127.0.0.1:$web_port
CONF
DBUS_SYSTEM_BUS_ADDRESS=$address build/release/gateway/bandgate run --config "$run/bandgate.conf" \
  2> "$run/bandgate.log" &
gw_pid=$!
bandgate() { build/release/gateway/bandgate "$@" --socket "$run/api.sock"; }
echo "Waiting for the gateway to pair $band (the simulated wearer taps after 3 s)..."
i=0; until bandgate status --json 2>/dev/null | grep -Eq '"state":[[:space:]]*"ready"'; do
  sleep 0.2; i=$((i + 1))
  if [ $i -gt 300 ] || ! kill -0 "$gw_pid" 2>/dev/null; then
    echo "the band did not reach ready; the gateway's log:" >&2; cat "$run/bandgate.log" >&2; exit 1
  fi
done
grep -o 'band .*: .* -> .*' "$run/bandgate.log" | sed 's/^/  /'
bandgate status
# The first start made a random password and logged it this once.
password=$(sed -n "s/.*the dashboard's password is \([^ ]*\) .*/\1/p" "$run/bandgate.log" | head -n 1)

cat <<MSG

bandgate demo: a simulated Mi Band 2 behind a fake bluetoothd 5.66, on a private bus.

  dashboard      http://127.0.0.1:$web_port/
  password       $password

  bus            $address
  adapter        /org/bluez/hci0
  band(s)        $(sed -n 's/^band //p' "$run/sim.out" | tr '\n' ' ')
  wearer         taps the band 3 s after a new key arrives (--auto-tap 3)

Everything over MQTT (states, the button, Home Assistant discovery, command results):
  mosquitto_sub -h 127.0.0.1 -p $port -v -t 'bandgate/#' -t 'homeassistant/#'
Commands, as Home Assistant's buttons and notify entity send them:
  mosquitto_pub -h 127.0.0.1 -p $port -t bandgate/$(echo "$band" | tr -d : | tr A-F a-f)/cmd/notify -m 'Hello from MQTT'
  mosquitto_pub -h 127.0.0.1 -p $port -t bandgate/demo/cmd/health -m PRESS

The gateway (log: $run/bandgate.log) holds the band. Ask it from another terminal:
  build/release/gateway/bandgate status --socket $run/api.sock
  build/release/gateway/bandgate reboot $band --socket $run/api.sock      # also reconnect, reset, repair
Or talk to the fake bluetoothd directly, exactly as to a real one:
  export DBUS_SYSTEM_BUS_ADDRESS=$address
  bluetoothctl                      # then: scan on / scan off / connect $band / menu gatt / list-attributes
  gdbus introspect --system --dest org.bluez --object-path /org/bluez/hci0
Script the world through the simulator's control interface (tests/sim/io.bandgate.Sim1.xml):
  gdbus call --system --dest io.bandgate.Sim --object-path /io/bandgate/Sim --method io.bandgate.Sim1.GetBand $band
  gdbus call --system --dest io.bandgate.Sim --object-path /io/bandgate/Sim --method io.bandgate.Sim1.PressButton $band

Running; Ctrl-C stops it.
MSG
wait "$gw_pid"
