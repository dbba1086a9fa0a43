#!/usr/bin/python
# The seed's "Python Producer Using the REST Proxy", unchanged but for print() (Python 3).

import requests
import json

url = "http://restproxy:8082/topics/my_topic"
headers = {
    "Content-Type" : "application/vnd.kafka.json.v2+json"
}
# Create one or more messages
payload = {"records":
    [{
        "key": "firstkey",
        "value": "firstvalue"
    }]
}
# Send the message
r = requests.post(url, data=json.dumps(payload), headers=headers)
if r.status_code != 200:
    print("Status Code: " + str(r.status_code))
    print(r.text)
