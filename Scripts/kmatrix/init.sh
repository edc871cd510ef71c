#!/bin/sh
# /init of the kernel-matrix initramfs: mount, load the tc modules of this kernel, run the
# suite, power off. Output goes to the serial console, where the host collects it.
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null || { mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf; }
ulimit -l unlimited 2>/dev/null
rel=$(uname -r)
for m in /modules/"$rel"/*.ko; do
	[ -f "$m" ] && { insmod "$m" 2>&1 | sed 's/^/KMH insmod: /'; }
done
echo "KMH begin $rel"
sh /suite.sh / 2>&1
poweroff -f
