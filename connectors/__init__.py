"""Edges of MLB-STS: Kafka/Avro serde, sources and sinks for Kafka, PostgreSQL, S3 and Redis."""
