"""What rules are built from, shared by every module in processors/rules/ (which holds only
rules): ``base`` (metadata, tunables, the detector and its examples), ``phrases`` (the words of
alert summaries), ``ttlcheck`` (TTL tables and payload-class lists as tunables),
``tunnel_horizon`` (icmp_tunnel's long, decaying horizon).  Nothing here imports a rule, the
registry or the engine."""
