"""The live service (issue 18): MQTT ingestion, per-sensor buffers, a bounded queue with counted drops, micro-batched
inference, a store, and the HTTP API."""
