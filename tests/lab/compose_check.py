#!/usr/bin/env python3
"""docker-compose.yml against the Compose Specification's JSON schema, and against
the native lab's topology: the same servers, each running `fixtures/lab/lab __exec NAME`
and healthy by `fixtures/lab/lab ready NAME` (the same addresses and readiness, since
both read the same table); and imp-verify's image under the `verify` profile."""
import json
import os
import subprocess
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

# The lab's topology (crates/testlab/src/topology, through imp-verify-lab) is the one
# table of its servers; the twin runs the default profile's.
tool = os.environ.get("IMPV_LAB_TOOL") or os.path.join(root, "target", "debug", "imp-verify-lab")
if os.path.exists(tool):
    table = subprocess.run([tool, "table"], check=True, capture_output=True, text=True).stdout
else:
    table = subprocess.run(["cargo", "run", "-q", "-p", "imp-verify-testlab", "--bin", "imp-verify-lab", "--", "table"],
                           cwd=root, check=True, capture_output=True, text=True).stdout
servers = [line.split()[0] for line in table.splitlines() if line.strip()]
services = compose["services"]
missing = [s for s in servers if s not in services]
if missing:
    sys.exit("servers of the native lab missing from docker-compose.yml: %s" % missing)
extra = [s for s in services if s not in servers and s not in ("init", "imp-verify")]
if extra:
    sys.exit("services of docker-compose.yml that are no server of the lab: %s" % extra)
for s in servers:
    if services[s]["command"] != ["fixtures/lab/lab", "__exec", s]:
        sys.exit("service %s does not run `fixtures/lab/lab __exec %s`" % (s, s))
    if services[s]["healthcheck"]["test"] != ["CMD", "fixtures/lab/lab", "ready", s]:
        sys.exit("service %s is not healthy by `fixtures/lab/lab ready %s`" % (s, s))
    if services[s].get("network_mode") != "host":
        sys.exit("service %s is not on the host's loopback addresses" % s)
tool_service = services["imp-verify"]
if tool_service.get("profiles") != ["verify"] or tool_service["build"].get("target") != "tool":
    sys.exit("the imp-verify service is not the tool's image under the verify profile")
print("docker-compose.yml: valid, %d servers as in the native lab, and the tool's image" % len(servers))
