# The seed's "python consumer example": its functions, then its main logic, unchanged.
import requests
import json
import sys

FORMAT = "application/vnd.kafka.v2+json"
POST_HEADERS = { "Content-Type": FORMAT }
GET_HEADERS = { "Accepts": FORMAT }

def create_consumer_instance(group_name, instance_name):
    url = f'http://restproxy:8082/consumers/{group_name}'
    payload = {
        "name": instance_name,
        "format": "json"
    }
    r = requests.post(url, data=json.dumps(payload), headers=POST_HEADERS)

    if r.status_code != 200:
        print("Status Code: " + str(r.status_code))
        print(r.text)
        sys.exit("Error thrown while creating consumer")

    return r.json()["base_uri"]

def subscribe_to_topic(uri, topic_name):
    payload = {
        "topics": [topic_name]
    }

    r = requests.post(uri + "/subscription",
                      data=json.dumps(payload),
                      headers=POST_HEADERS)

    if r.status_code != 204:
        print("Status Code: " + str(r.status_code))
        print(r.text)
        delete_consumer(uri)
        sys.exit("Error thrown while subscribing the consumer to the topic")

def consume_messages(uri):
    r = requests.get(base_uri + "/records", headers=GET_HEADERS, timeout=20)

    if r.status_code != 200:
        print ("Status Code: " + str(r.status_code))
        print (r.text)
        sys.exit("Error thrown while getting message")

    for message in r.json():
        if message["key"] is not None:
            print ("Message Key:" + message["key"])
            print ("Message Value:" + message["value"])

def delete_consumer(uri):
    r = requests.delete(uri, headers=GET_HEADERS)

    if r.status_code != 204:
        print ("Status Code: " + str(r.status_code))
        print (r.text)

base_uri = create_consumer_instance("group1", "my_consumer")
subscribe_to_topic(base_uri, "hello_world_topic")
consume_messages(base_uri)
delete_consumer(base_uri)
