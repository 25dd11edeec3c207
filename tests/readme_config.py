"""The README's configuration reference is the daemon's own key table (`bandgate --config-reference`): a key
added, renamed or given another default shows here until the README follows. Usage: readme_config.py BANDGATE
README [--write]; --write puts the current table in."""
import subprocess
import sys

START = "<!-- config-reference: bandgate --config-reference -->\n"
END = "<!-- /config-reference -->"

bandgate, readme = sys.argv[1], sys.argv[2]
table = subprocess.run([bandgate, "--config-reference"], check=True, capture_output=True, text=True).stdout
with open(readme) as f:
    text = f.read()
head, rest = text.split(START, 1)
current, tail = rest.split(END, 1)
if "--write" in sys.argv:
    with open(readme, "w") as f:
        f.write(head + START + table + END + tail)
elif current != table:
    sys.exit("README.md's configuration reference differs from `bandgate --config-reference`; run\n"
             f"  /usr/bin/python3 tests/readme_config.py {bandgate} README.md --write\n")
