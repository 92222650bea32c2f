#!/bin/sh
# lesson13.sh DIR [PORT]: the image of lesson 13, as its first transcript
# makes it step by step: busybox as the bottom layer; a top layer that adds
# /etc/motd, deletes /etc/group (a whiteout, .wh.group) and hides
# everything busybox has in /usr/sbin but one file of its own (an opaque
# directory, .wh..wh..opq); pushed as lesson/demo:1 to a registry served
# on 127.0.0.1:PORT (testdata/registry, PID in DIR/registry.pid).
set -e
d=$1 port=${2:-5000}
rm -rf "$d"
mkdir -p "$d/top/etc" "$d/top/usr/sbin"
minicontainer rootfs busybox "$d/bb" >/dev/null
tar -C "$d/bb" -cf "$d/base.tar" .
echo 'hello from the top layer' >"$d/top/etc/motd"
touch "$d/top/etc/.wh.group" "$d/top/usr/sbin/.wh..wh..opq" "$d/top/usr/sbin/mine"
tar -C "$d/top" -cf "$d/top.tar" etc usr
go build -o "$d/registry" ./testdata/registry
"$d/registry" -addr "127.0.0.1:$port" -pidfile "$d/registry.pid" lesson/demo:1 "$d/base.tar" "$d/top.tar"
