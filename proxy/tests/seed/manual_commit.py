# The seed's "python consumer example: manual commit": create a binary consumer with auto-commit
# off, read with the seed consumer's calls, then commit with a body-less POST, as in the seed.
import requests
import json
import sys

baseurl = "http://restproxy:8082/consumers/manual_group"

def shouldCommit():
    return True

payload = {
    "format": "binary",
    # Manually/Programmatically commit offset
    "auto.commit.enable": "false"
}

headers = {
    "Content-Type" : "application/vnd.kafka.v2+json"
}

r = requests.post(baseurl, data=json.dumps(payload), headers=headers)
base_uri = r.json()["base_uri"]

r = requests.post(base_uri + "/subscription", data=json.dumps({"topics": ["manual_topic"]}), headers=headers)
if r.status_code != 204:
    sys.exit("subscribe failed: " + r.text)
r = requests.get(base_uri + "/records", headers={"Accept": "application/vnd.kafka.binary.v2+json"}, timeout=20)
print("Read " + str(len(r.json())))

# Commit the offsets
if shouldCommit() == True:
    r = requests.post(base_uri + "/offsets", headers=headers, timeout=20)
    if r.status_code != 200:
        print ("Status Code: " + str(r.status_code))
        print (r.text)
        sys.exit("Error thrown while committing")
    print("Committed")
