#!/bin/bash
# SPUBLISH / PUBLISH capacity of one Redis with one subscriber on the channel, pipelined and not.
# Uses loopback ports 47101 (single-node cluster) and 47102 (plain server); ~30 s.
set -u
D=$(mktemp -d); cd $D
redis-server --port 47101 --save '' --appendonly no --cluster-enabled yes --cluster-config-file n1.conf > s1.log 2>&1 &
S1=$!
redis-server --port 47102 --save '' --appendonly no > s2.log 2>&1 &
S2=$!
sleep 0.7
redis-cli -p 47101 cluster addslotsrange 0 16383 >/dev/null; sleep 1.5
timeout 60 redis-cli -p 47101 ssubscribe bench:c1 > /dev/null & A=$!
timeout 60 redis-cli -p 47102 subscribe bench:c1 > /dev/null & B=$!
sleep 0.3
P=$(printf 'x%.0s' $(seq 1 64))
echo "pipelined P16:"; timeout 30 redis-benchmark -p 47102 -c 20 -P 16 -n 400000 -q PUBLISH bench:c1 $P | tail -1
timeout 30 redis-benchmark -p 47101 -c 20 -P 16 -n 400000 -q SPUBLISH bench:c1 $P | tail -1
echo "unpipelined:"; timeout 30 redis-benchmark -p 47102 -c 20 -n 100000 -q PUBLISH bench:c1 $P | tail -1
timeout 30 redis-benchmark -p 47101 -c 20 -n 100000 -q SPUBLISH bench:c1 $P | tail -1
kill $A $B $S1 $S2; wait 2>/dev/null; rm -rf $D
