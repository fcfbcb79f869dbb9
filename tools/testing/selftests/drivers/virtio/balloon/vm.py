# SPDX-License-Identifier: GPL-2.0
"""QEMU test VMs for the virtio-balloon harness: process control, QMP,
serial streams, the guest-to-host RPC service and live migration.

A VM owns one temporary directory and a chain of QEMU instances: the first
one boots the guest, every successful migration adds the destination
instance and retires the source.  The console and test streams of the VM
are the concatenation of the streams of all instances that ran the guest.
"""

import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import time

QEMU_START_TIMEOUT_S = 15
QEMU_QUIT_TIMEOUT_S = 10
# QEMU answers QMP from its main loop, which the migration thread blocks
# while it holds the big lock (setup, dirty-bitmap syncs, the last pass):
# seconds on a busy host.  Minutes with QEMU before 9.0 under TCG when the
# guest's RAM is not a multiple of 256 KiB (see vmtest.py): a sync then
# walks every vCPU's TLB once per dirty page, and the first sync of a
# migration finds every page dirty; TLBs grow with the memory the guest
# touched.  A timeout says how much CPU QEMU uses, watched for
# QMP_CPU_SAMPLE_S, which tells a QEMU busy in such a walk from a hung one.
QMP_TIMEOUT_S = 120
QMP_CPU_SAMPLE_S = 1
# A QMP reply this late is logged: the main loop was blocked that long.
QMP_SLOW_S = 2
POLL_INTERVAL_S = 0.05
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RPC_POLL_S = 0.2
RPC_LINE_MAX = 4096
MIGRATE_TIMEOUT_S = 300
DEST_RUNNING_TIMEOUT_S = 30
# The guest deflates the whole balloon before it lets the device go: minutes
# on a KASAN kernel under TCG.
DEVICE_DEL_TIMEOUT_S = 120
SLEEP_HOST_MAX_MS = 60000
# QEMU 7.2's defaults for the parameters the migrate command can change.
MIGRATE_DEFAULTS = {"max-bandwidth": 128 << 20, "downtime-limit": 300}
MIGRATION_END_STATES = ("completed", "failed", "cancelled")
# query-migrate figures copied into the RPC reply, flattened with dots.
MIGRATE_FIGURES = ("total-time", "downtime", "setup-time", "error-desc")
MIGRATE_RAM_FIGURES = ("transferred", "normal", "duplicate", "normal-bytes",
                       "total", "dirty-sync-count", "postcopy-requests")
BALLOON_QOM_PATH = "/machine/peripheral/balloon0"


class QemuError(Exception):
    """QEMU could not be started or misbehaved."""


class QmpError(Exception):
    """A QMP command returned an error."""


class RpcError(Exception):
    """A guest RPC request failed; the message goes back to the guest."""


def _connect_unix(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


class Qmp:
    """Minimal synchronous QMP client; events are kept in self.events.

    Every command carries an id and only the reply with that id answers
    it, so a command that timed out cannot hand its late reply to the
    next one.  Slow replies are logged through @note; a timeout names
    the share of a CPU QEMU then uses, from @cpu_seconds() (None if
    unknown).
    """

    def __init__(self, sock, note, cpu_seconds):
        self.sock = sock
        self.cpu_seconds = cpu_seconds
        self.sock.settimeout(QMP_TIMEOUT_S)
        self.buf = b""
        self.events = []
        self.next_id = 0
        self.note = note
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QemuError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        """Execute a QMP command and return its "return" value."""
        self.next_id += 1
        msg = {"execute": name, "id": self.next_id}
        if args:
            msg["arguments"] = args
        start = time.monotonic()
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            try:
                resp = self._read()
            except socket.timeout:
                raise QemuError(f"QMP {name}: no reply within "
                                f"{QMP_TIMEOUT_S} s; QEMU then used "
                                f"{self._cpu_share()}") from None
            if "event" in resp:
                self.events.append(resp)
                continue
            if resp.get("id") != self.next_id:
                self.note(f"QMP: late reply dropped: {resp}")
                continue
            took = time.monotonic() - start
            if took >= QMP_SLOW_S:
                self.note(f"QMP {name}: reply after {took:.1f} s")
            if "error" in resp:
                raise QmpError(f"{name}: {resp['error'].get('desc')}")
            return resp.get("return")

    def _cpu_share(self):
        """How much of a CPU QEMU uses over QMP_CPU_SAMPLE_S, as text."""
        cpu0 = self.cpu_seconds()
        time.sleep(QMP_CPU_SAMPLE_S)
        cpu1 = self.cpu_seconds()
        if None in (cpu0, cpu1):
            return "an unknown share of a CPU"
        return f"{100 * (cpu1 - cpu0) / QMP_CPU_SAMPLE_S:.0f}% of a CPU"

    def wait_event(self, name, timeout, match=None):
        """Wait for an event named @name whose data contains @match."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                data = ev.get("data", {})
                if ev["event"] == name and all(data.get(k) == v for k, v in
                                               (match or {}).items()):
                    self.events.remove(ev)
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                resp = self._read()
            except socket.timeout:
                return None
            finally:
                self.sock.settimeout(QMP_TIMEOUT_S)
            if "event" in resp:
                self.events.append(resp)
            else:
                self.note(f"QMP: late reply dropped: {resp}")


class StreamReader(threading.Thread):
    """Collects everything QEMU sends on one serial chardev socket."""

    def __init__(self, sock, echo=None):
        super().__init__(daemon=True)
        self.sock = sock
        self.echo = echo
        self.data = bytearray()
        self.lock = threading.Lock()
        self.start()

    def run(self):
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.data += chunk
            if self.echo:
                self.echo(chunk)

    def text(self):
        with self.lock:
            return self.data.decode(errors="replace")


class Instance:
    """One QEMU process with its QMP, console, test and RPC sockets."""

    def __init__(self, vm, incoming):
        self.vm = vm
        self.dir = tempfile.mkdtemp(prefix="q", dir=vm.tmpdir)
        self.qmp = None
        self.readers = {}
        self.rpc = None
        self.rpc_buf = b""
        self.output = None
        argv = vm.argv()
        for chan in ("console", "test", "rpc"):
            argv += ["-chardev", f"socket,id={chan},path={self.path(chan)},"
                     "server=on,wait=off", "-serial", f"chardev:{chan}"]
        argv += ["-qmp", f"unix:{self.path('qmp')},server=on,wait=off"]
        argv += ["-incoming", "defer"] if incoming else ["-S"]
        self.argv = argv
        self.log = open(os.path.join(self.dir, "qemu.log"), "w+b")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self._connect()
        except BaseException:
            self.kill()
            raise

    def path(self, name):
        return os.path.join(self.dir, name + ".sock")

    def qemu_output(self):
        """What QEMU printed on stdout/stderr (kept after kill())."""
        if self.output is None:
            self.log.flush()
            with open(self.log.name, "rb") as f:
                return f.read().decode(errors="replace")
        return self.output

    def _connect(self):
        deadline = time.monotonic() + QEMU_START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise QemuError(f"QEMU exited with status "
                                f"{self.proc.returncode}: "
                                f"{self.qemu_output().strip()}\n"
                                f"command: {' '.join(self.argv)}")
            try:
                qmp_sock = _connect_unix(self.path("qmp"))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise QemuError("timeout waiting for the QMP socket")
                time.sleep(POLL_INTERVAL_S)
        self.qmp = Qmp(qmp_sock, self.vm.note, self.cpu_seconds)
        # The chardevs exist once QMP answers.
        for chan, echo in (("console", self.vm.echo),
                           ("test", self.vm.test_echo)):
            self.readers[chan] = StreamReader(
                _connect_unix(self.path(chan)), echo)
        self.rpc = _connect_unix(self.path("rpc"))

    def text(self, chan):
        return self.readers[chan].text() if chan in self.readers else ""

    def alive(self):
        return self.proc.poll() is None

    def rss_bytes(self):
        """The QEMU process's resident memory (None if unreadable)."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def cpu_seconds(self):
        """The QEMU process's user and system time (None if unreadable)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                # The fields after the command name, which may hold spaces.
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        except (OSError, ValueError, IndexError):
            return None

    def _join_readers(self):
        for reader in self.readers.values():
            reader.join(QEMU_QUIT_TIMEOUT_S)

    def quit(self):
        """Ask QEMU to quit, then read its streams to the end."""
        try:
            self.qmp.cmd("quit")
            self.proc.wait(QEMU_QUIT_TIMEOUT_S)
        except (OSError, QemuError, QmpError, subprocess.TimeoutExpired):
            pass
        self.kill()

    def wait_exit(self):
        """After the guest ended: collect the streams to EOF."""
        self.proc.wait(QEMU_QUIT_TIMEOUT_S)
        self._join_readers()

    def kill(self):
        """Stop QEMU (if running) and release every resource."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._join_readers()
        for reader in self.readers.values():
            reader.sock.close()
        for sock in (self.rpc, self.qmp.sock if self.qmp else None):
            if sock:
                sock.close()
        if self.output is None:
            self.output = self.qemu_output()
            self.log.close()


def _kv_args(words):
    opts = {}
    for word in words:
        key, sep, val = word.partition("=")
        if not sep:
            raise RpcError(f"expected key=value, got '{word}'")
        opts[key] = val
    return opts


class VM:
    """A guest that may move between QEMU instances by live migration.

    @base_argv: QEMU command line without devices, chardevs and QMP.
    @devices: list of (id, qdev argument) of the hot-pluggable devices.
    @log: callable printing one host-side progress line.
    @echo: callable receiving raw console bytes as they arrive, or None.
    @test_echo: the same for the test channel.
    """

    def __init__(self, base_argv, devices, log, echo=None, test_echo=None):
        self.base_argv = list(base_argv)
        self.devices = list(devices)
        self.log = log
        self.echo = echo
        self.test_echo = test_echo
        self.tmpdir = tempfile.mkdtemp(prefix="vmtest-")
        self.instances = []
        self.current = None
        self.events = []
        self.commands = {
            "balloon": self.rpc_balloon,
            "query-balloon": self.rpc_query_balloon,
            "guest-stats": self.rpc_guest_stats,
            "qom-get": self.rpc_qom_get,
            "virtio-status": self.rpc_virtio_status,
            "migrate": self.rpc_migrate,
            "migrate-file": self.rpc_migrate_file,
            "device_del": self.rpc_device_del,
            "device_add": self.rpc_device_add,
            "sleep-host": self.rpc_sleep_host,
            "log": self.rpc_log,
        }

    def argv(self):
        argv = list(self.base_argv)
        for _, dev in self.devices:
            argv += ["-device", dev]
        return argv

    def note(self, msg):
        self.events.append(f"{time.monotonic():.3f} {msg}")

    def start(self):
        inst = Instance(self, incoming=False)
        self.instances.append(inst)
        self.current = inst
        inst.qmp.cmd("cont")
        self.note("guest started")

    def close(self):
        for inst in self.instances:
            inst.kill()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def text(self, chan):
        """Stream @chan ("console" or "test") over all instances."""
        return "".join(inst.text(chan) for inst in self.instances)

    def qemu_output(self):
        return "".join(inst.qemu_output() for inst in self.instances)

    # ---- main loop -------------------------------------------------------

    def serve(self, deadline):
        """Serve RPC requests until QEMU exits or @deadline passes.

        Return: True if QEMU exited by itself, False on timeout.
        """
        while self.current.alive():
            if time.monotonic() > deadline:
                self.note("timeout")
                return False
            inst = self.current
            ready, _, _ = select.select([inst.rpc], [], [], RPC_POLL_S)
            if not ready:
                continue
            try:
                chunk = inst.rpc.recv(RPC_LINE_MAX)
            except OSError:
                chunk = b""
            if not chunk:
                # QEMU is going away; wait for the process below.
                inst.proc.wait(QEMU_QUIT_TIMEOUT_S)
                break
            inst.rpc_buf += chunk
            while b"\n" in inst.rpc_buf:
                line, inst.rpc_buf = inst.rpc_buf.split(b"\n", 1)
                self.handle(line.decode(errors="replace").strip())
        self.current.wait_exit()
        return True

    def handle(self, line):
        """Run one RPC request and send the reply to the current instance."""
        self.note(f"rpc> {line}")
        name, _, args = line.partition(" ")
        try:
            func = self.commands.get(name)
            if not func:
                raise RpcError(f"unknown command '{name}'")
            payload = func(args.strip())
            reply = "ok" + (f" {payload}" if payload not in (None, "")
                            else "")
        except (RpcError, QmpError, QemuError, OSError, ValueError) as e:
            reply = "err " + " ".join(str(e).split())
        self.note(f"rpc< {reply}")
        try:
            self.current.rpc.sendall(reply.encode() + b"\n")
        except OSError as e:
            self.note(f"cannot send the reply: {e}")

    # ---- RPC commands ----------------------------------------------------

    def rpc_balloon(self, args):
        self.current.qmp.cmd("balloon", value=int(args))

    def rpc_query_balloon(self, _args):
        return str(self.current.qmp.cmd("query-balloon")["actual"])

    def rpc_guest_stats(self, _args):
        stats = self.current.qmp.cmd("qom-get", path=BALLOON_QOM_PATH,
                                     property="guest-stats")
        return json.dumps(stats, separators=(",", ":"))

    def rpc_qom_get(self, args):
        words = args.split()
        if len(words) != 2:
            raise RpcError("usage: qom-get <path> <property>")
        val = self.current.qmp.cmd("qom-get", path=words[0],
                                   property=words[1])
        return json.dumps(val, separators=(",", ":"))

    def rpc_virtio_status(self, _args):
        """The device's virtio state as QEMU sees it, for diagnostics."""
        status = self.current.qmp.cmd("x-query-virtio-status",
                                      path=BALLOON_QOM_PATH + "/virtio-backend")
        return json.dumps(status, separators=(",", ":"))

    def rpc_device_del(self, args):
        dev_id = args
        qmp = self.current.qmp
        qmp.cmd("device_del", id=dev_id)
        if not qmp.wait_event("DEVICE_DELETED", DEVICE_DEL_TIMEOUT_S,
                              {"device": dev_id}):
            raise RpcError(f"no DEVICE_DELETED for {dev_id} within "
                           f"{DEVICE_DEL_TIMEOUT_S} s")
        self.devices = [d for d in self.devices if d[0] != dev_id]

    def rpc_device_add(self, args):
        # HMP parses qdev options like the command line does.
        out = self.current.qmp.cmd("human-monitor-command",
                                   **{"command-line": f"device_add {args}"})
        if out.strip():
            raise RpcError(out)
        dev_id = _kv_args(args.split(",")[1:]).get("id", "")
        self.devices.append((dev_id, args))

    def rpc_sleep_host(self, args):
        time.sleep(min(int(args), SLEEP_HOST_MAX_MS) / 1000)

    def rpc_log(self, args):
        self.log(f"guest: {args}")

    # ---- migration -------------------------------------------------------

    @staticmethod
    def _migration_setup(qmp, opts):
        """Apply capabilities and parameters from the RPC options."""
        qmp.cmd("migrate-set-capabilities", capabilities=[
            {"capability": "postcopy-ram",
             "state": opts.get("postcopy", "off") == "on"}])
        # Always set every parameter: they persist in the source QEMU.
        params = {k: int(opts.get(k, v)) for k, v in MIGRATE_DEFAULTS.items()}
        qmp.cmd("migrate-set-parameters", **params)

    def _run_migration(self, uri, opts):
        """Migrate the current instance to @uri and wait for the end state.

        Options: postcopy=on (switch to postcopy after postcopy-after-ms),
        cancel-after-ms=N, timeout-ms=N.

        Return: the last query-migrate answer.
        """
        qmp = self.current.qmp
        start = time.monotonic()
        cancel_at = opts.get("cancel-after-ms")
        postcopy_at = (int(opts.get("postcopy-after-ms", 0))
                       if opts.get("postcopy") == "on" else None)
        timeout = int(opts.get("timeout-ms", MIGRATE_TIMEOUT_S * 1000))
        qmp.cmd("migrate", uri=uri)
        cancelled = False
        while True:
            info = qmp.cmd("query-migrate")
            status = info.get("status")
            if status in MIGRATION_END_STATES:
                return info
            elapsed_ms = (time.monotonic() - start) * 1000
            if (postcopy_at is not None and status == "active" and
                    elapsed_ms >= postcopy_at):
                qmp.cmd("migrate-start-postcopy")
                postcopy_at = None
            if not cancelled and (
                    (cancel_at is not None and elapsed_ms >= int(cancel_at))
                    or elapsed_ms >= timeout):
                qmp.cmd("migrate_cancel")
                cancelled = True
            time.sleep(POLL_INTERVAL_S)

    @staticmethod
    def _figures(info, src, rss0):
        """The reply's figures; @rss0: @src's resident memory before."""
        out = {"status": info.get("status")}
        out.update({k: info[k] for k in MIGRATE_FIGURES if k in info})
        ram = info.get("ram", {})
        out.update({f"ram.{k}": ram[k] for k in MIGRATE_RAM_FIGURES
                    if k in ram})
        # Guest memory the migration made the source back: what a guest
        # wrote for the first time, hinting's allocations included.
        rss1 = src.rss_bytes()
        if rss0 is not None and rss1 is not None:
            out["source-rss-growth"] = rss1 - rss0
        return out

    def rpc_migrate(self, args):
        """Live-migrate to a new QEMU; the guest continues there on success.

        Reply: one-line JSON with status and the query-migrate figures.
        """
        opts = _kv_args(args.split())
        src = self.current
        dst = Instance(self, incoming=True)
        self.note(f"migrate {args}: destination started")
        try:
            self._migration_setup(dst.qmp, opts)
            dst.qmp.cmd("migrate-incoming",
                        uri=f"unix:{dst.path('migration')}")
            self._migration_setup(src.qmp, opts)
            rss0 = src.rss_bytes()
            info = self._run_migration(f"unix:{dst.path('migration')}",
                                       opts)
            self.note(f"migrate: {info['status']}")
            if info["status"] == "completed":
                self._wait_running(dst)
        except BaseException as e:
            self._drop_destination(dst, f"migration failed: {e}")
            # Keep the guest alive on the source whatever happened.
            if src.alive() and src.qmp.cmd("query-status")["status"] in (
                    "paused", "postmigrate"):
                src.qmp.cmd("cont")
            raise
        figures = self._figures(info, src, rss0)
        if info["status"] != "completed":
            self._drop_destination(dst, f"migration {info['status']}")
            return json.dumps(figures, separators=(",", ":"))
        src.quit()
        self.instances.append(dst)
        self.current = dst
        return json.dumps(figures, separators=(",", ":"))

    def _drop_destination(self, dst, why):
        """Kill an unused destination, keeping its QEMU output for the logs."""
        dst.kill()
        output = dst.qemu_output().strip()
        self.note(f"{why}; destination QEMU output: {output or '(none)'}")

    @staticmethod
    def _wait_running(inst):
        deadline = time.monotonic() + DEST_RUNNING_TIMEOUT_S
        while True:
            status = inst.qmp.cmd("query-status")["status"]
            if status == "running":
                return
            if status in ("paused", "postmigrate"):
                inst.qmp.cmd("cont")
            if time.monotonic() > deadline:
                raise QemuError(f"destination stuck in state {status}")
            time.sleep(POLL_INTERVAL_S)

    def rpc_migrate_file(self, args):
        """Migrate into a file to measure the snapshot size; the guest then
        resumes on the same QEMU.  Same options as migrate."""
        opts = _kv_args(args.split())
        path = os.path.join(self.current.dir, "snapshot")
        self._migration_setup(self.current.qmp, opts)
        rss0 = self.current.rss_bytes()
        try:
            info = self._run_migration(f"exec:cat > {path}", opts)
            out = self._figures(info, self.current, rss0)
            if os.path.exists(path):
                out["file-size"] = os.path.getsize(path)
        finally:
            if os.path.exists(path):
                os.unlink(path)
            self._wait_running(self.current)
        return json.dumps(out, separators=(",", ":"))
