#!/usr/bin/env python3
"""docker-compose.yml against the Compose Specification's JSON schema, and against
the native lab: the same servers, each running `fixtures/lab/lab __exec NAME`."""
import json
import os
import re
import sys

import jsonschema
import yaml

root = os.path.join(os.path.dirname(__file__), "..", "..")
with open(os.path.join(root, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
with open(os.path.join(root, "fixtures/compose/compose-spec.json")) as f:
    schema = json.load(f)
validator = jsonschema.Draft7Validator(schema)
validator.validate(compose)
# The schema does bite: a misspelt service key is refused.
broken = json.loads(json.dumps(compose))
broken["services"]["dns"]["comand"] = broken["services"]["dns"].pop("command")
if validator.is_valid(broken):
    sys.exit("the compose schema accepted a misspelt key: it checks nothing")

# The lab script keeps one table of its servers (`server_table`): a row each, the name
# first.
with open(os.path.join(root, "fixtures/lab/lab")) as f:
    table = re.search(r"^server_table\(\) \{\n\s*cat <<EOF\n(.*?)^EOF$", f.read(), re.M | re.S)
if table is None:
    sys.exit("fixtures/lab/lab has no server_table")
servers = [line.split()[0] for line in table.group(1).splitlines() if line.strip()]
services = compose["services"]
missing = [s for s in servers if s not in services]
if missing:
    sys.exit("servers of the native lab missing from docker-compose.yml: %s" % missing)
for s in servers:
    if services[s]["command"] != ["fixtures/lab/lab", "__exec", s]:
        sys.exit("service %s does not run `fixtures/lab/lab __exec %s`" % (s, s))
    if services[s].get("network_mode") != "host":
        sys.exit("service %s is not on the host's loopback addresses" % s)
print("docker-compose.yml: valid, %d servers as in the native lab" % len(servers))
