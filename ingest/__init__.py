"""The poller: MLB Stats API client (rate limit, circuit breaker), polling policy, diffPatch,
the runner, its Kafka publisher, the schedule cache and the coverage check."""
