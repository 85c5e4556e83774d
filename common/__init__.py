"""What the load generator shares with every other part, and nothing of any one service.

The duration syntax, the latency histogram's bucket boundaries and the load generator's metric names: the
load generator runs against any HTTP server, so it imports these and not `contract` (which holds this
project's service: its schemas, routes and data set). `contract` re-exports them, so every other part
still reads one contract, and each concept is stated once, here. Pure Python; nothing here may import
another package of this project.
"""
