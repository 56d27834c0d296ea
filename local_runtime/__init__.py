"""Run the leaderboard's Lambda handlers on one machine, with no Docker and no cloud.

Real servers (redis-server, the Tansu Kafka broker, moto) run as child processes on free loopback
ports; API Gateway and the MSK event source mapping are emulated in-process from ``template.yaml``.
``python -m local_runtime run`` starts everything; ``LocalStack`` does the same for tests.
"""

from local_runtime.servers import KafkaBroker, LocalServers, MotoServer, RedisServer, free_port

__all__ = ["KafkaBroker", "LocalServers", "MotoServer", "RedisServer", "free_port"]
