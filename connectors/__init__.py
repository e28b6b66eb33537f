"""Edges of MLB-STS: Kafka serde and sinks, PostgreSQL, S3, Redis, the MLB Stats API."""
