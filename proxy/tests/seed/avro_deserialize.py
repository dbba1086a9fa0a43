"""Decodes Confluent-framed Avro values with confluent-kafka's AvroDeserializer, which fetches
the writer schema by id from the Schema Registry at argv[1]. argv[2] is the topic; the rest are
hex-encoded record values. Prints one JSON object per record."""
import json
import sys

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

registry = SchemaRegistryClient({"url": sys.argv[1]})
deserializer = AvroDeserializer(registry)
context = SerializationContext(sys.argv[2], MessageField.VALUE)
for value in sys.argv[3:]:
    print(json.dumps(deserializer(bytes.fromhex(value), context), sort_keys=True))
