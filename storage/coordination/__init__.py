"""How writers and gc share a store safely: commits (`commit`), the pending and gc markers
they leave (`markers`), garbage collection (`gc`), leases (`lease`) and the clock they all
read (`clock`). The protocol and its assumptions: docs/design.md#the-artifact-store."""
