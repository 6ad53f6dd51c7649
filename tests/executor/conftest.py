"""A real 2-node Ray cluster on 127.0.0.1 for the Ray tests (started once for the Ray test module, stopped after it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def ray_cluster():
    """A real Ray cluster of two nodes (one CPU each) on this machine, every process on 127.0.0.1; the second
    node also declares one (logical) GPU so that GPU requests can be placed and checked without a GPU."""
    pytest.importorskip("ray")
    from workbench.executor import import_ray

    ray = import_ray(loopback=True)  # usage statistics off; 127.0.0.1 stays 127.0.0.1
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, resources={"head": 1}))
    cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", resources={"second": 1})
    ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
    cluster.wait_for_nodes(timeout=60)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
