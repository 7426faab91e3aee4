// Package lab builds and tears down Ferry's site lab: a handful of real target hosts on this one machine,
// so the installer and appliance are tested against real systemd, real OpenSSH, real sudo and real
// containerd instead of the project's own fakes.
//
// Each host is a systemd-nspawn machine booted with systemd as PID 1 over a debootstrapped Debian 12
// rootfs (amd64 natively, arm64 through qemu-user-static and binfmt_misc). The rootfs is built once per
// machine and cached under CacheDir, keyed by its recipe; every host gets an overlayfs over it with its
// own hostname, machine-id, SSH host key and a static address on a bridge the lab creates. Hosts have no
// default route and the bridge has no NAT or uplink, so no test packet can leave the machine.
//
// The lab owns, and may only ever touch, what carries its names: the bridge "ferrylab<ID>", machines and
// veths "ferrylab<ID>-<n>" / "vb-ferrylab<ID>-<n>", mounts and loop devices backed by files under its
// StateDir, and /run/systemd/nspawn entries of its machines. Down removes exactly these, from what it finds
// on disk and in the kernel, so it also cleans up after a run that died half-way. It must never touch
// interfaces, mounts or processes it did not create, and must not be imported by product code: it is
// test infrastructure, and it needs root.
//
// One process at a time owns a lab ID. Up and Down first claim it with a flock on
// <StateRoot>/ferrylab<ID>.lock (LockPath), kept until the process exits and dropped by the kernel however
// it exits; a process-level registry lets the holder's own later Up and Down go on. While another
// running process holds the ID they change nothing and fail with ErrLabBusy naming it (PID, command line,
// parent, since when), after waiting up to $FERRY_LAB_LOCK_WAIT if set; DownWith(Force) is the only way
// past a holder. Read-only calls (Open, Leaks, Holder, Status) and the fault knobs take no lock.
//
// Fault knobs (CutLink, Stop, OccupyPort, SmallDataFS, InstallForeignK3s) let scenarios turn the failures
// a real site shows. The running site is described by an Inventory (JSON), the same format a user writes
// for real VMs, so scenarios can run against either.
package lab
