#!/bin/sh
# The per-kernel work of the kernel matrix: the same steps on the host (bash) and in each
# qemu guest (busybox sh, as /suite.sh run by /init). Output: KMJ/KMR/KMD lines on stdout.
#   suite.sh ROOT
# ROOT holds: kmloader, obj/VARIANTS (variant names, one a line), obj/VARIANT/*.o,
# probes/VARIANT/*.o, diff.conf (lines "object program cases [loader options]"),
# cases/*.bin, and optionally expect/PROGRAM.txt (the host's results) and dump/ (host only);
# dptest and dp/packets.txt for the datapath differential (absent with --no-datapath).
R=$1
L="$R/kmloader"
"$L" uname
"$L" probe
for v in $(cat "$R/obj/VARIANTS"); do
	set -- "$R"/obj/"$v"/*.o "$R"/probes/"$v"/*.o
	objs=""
	for o in "$@"; do [ -f "$o" ] && objs="$objs $o"; done
	# one process per object: a loader killed by the OOM killer loses one object, not the rest
	for o in $objs; do
		"$L" verify --variant "$v" "$o" ||
			echo "KMJ {\"kind\":\"object\",\"object\":\"${o##*/}\",\"variant\":\"$v\",\"error\":\"loader died with status $? (137: killed, out of memory)\"}"
	done
done | tee "$R/verify.out"
# Differential cases: every variant whose object exists (a rejected program reports its error).
[ -f "$R/diff.conf" ] || { echo "KMH end"; exit 0; }
for v in $(cat "$R/obj/VARIANTS"); do
	while read -r obj prog cases opts; do
		[ -n "$obj" ] || continue
		o="$R/obj/$v/$obj.o"
		[ -f "$o" ] || continue
		# a program verify rejected is not loaded again (a rejection can cost a minute under TCG)
		if ! grep -q "\"object\":\"$obj.o\",\"variant\":\"$v\",\"program\":\"$prog\",.*\"verdict\":\"accepted\"" "$R/verify.out"; then
			echo "KMS run $v $obj $prog"
			echo "KMJ {\"kind\":\"run\",\"variant\":\"$v\",\"program\":\"$prog\",\"error\":\"not loaded: rejected by verify (see the program table)\"}"
			continue
		fi
		extra=""
		[ -f "$R/expect/$prog.txt" ] && extra="--expect $R/expect/$prog.txt"
		[ -d "$R/dump" ] && extra="$extra --dump $R/dump/$v-$prog.bin"
		echo "KMS run $v $obj $prog"
		"$L" run "$o" "$R/cases/$cases" --prog "$prog" --variant "$v" $opts $extra
	done < "$R/diff.conf"
done
# Datapath differential: an endpoint's two programs on shared maps, the same packets in order
# (dptest.c), for every variant whose two objects verify accepted.
if [ -x "$R/dptest" ] && [ -f "$R/dp/packets.txt" ]; then
	for v in $(cat "$R/obj/VARIANTS"); do
		for sc in "veth veth_ingress fqdn_veth_ingress veth_egress fqdn_veth_egress" \
			"cgroup cgroup_egress fqdn_cgroup_egress cgroup_ingress fqdn_cgroup_ingress"; do
			set -- $sc
			[ -f "$R/obj/$v/$2.o" ] && [ -f "$R/obj/$v/$4.o" ] || continue
			if grep -q "\"object\":\"$2.o\",\"variant\":\"$v\",\"program\":\"$3\",.*\"verdict\":\"accepted\"" "$R/verify.out" &&
				grep -q "\"object\":\"$4.o\",\"variant\":\"$v\",\"program\":\"$5\",.*\"verdict\":\"accepted\"" "$R/verify.out"; then
				"$R/dptest" --scenario "$1" --variant "$v" "$R/obj/$v" "$R/dp/packets.txt"
				st=$? # 1: dptest printed its error; more: it died
				[ $st -le 1 ] ||
					echo "KMJ {\"kind\":\"dprun\",\"variant\":\"$v\",\"scenario\":\"$1\",\"error\":\"dptest died with status $st\"}"
			else
				echo "KMJ {\"kind\":\"dprun\",\"variant\":\"$v\",\"scenario\":\"$1\",\"error\":\"not loaded: rejected by verify (see the program table)\"}"
			fi
		done
	done
fi
echo "KMH end"
