"""The demo shop: six services as real consumer groups on real Kafka, producing correlated events."""
