"""The load generator's HTTP clients (chosen by `loadgen.client.make_client`) and their outcome kinds."""
