#!/usr/bin/env python3
"""Where an NBD request's round trip goes: the stages between a client and a server, from tracepoints.

Usage: bench/nbd-round-trip.py SERVER_PID CLIENT_CMD [ARGS...]     (root; perf; the server already running)

Runs CLIENT_CMD (e.g. `qemu-img bench -f raw -w -c 40000 -d 16 -s 4096 -S 1052672 nbd+unix:///?socket=S`) under
`perf record` of its socket system calls, records the server's system calls (`perf record -p SERVER_PID`, every
thread) and the block layer's request issues and completions system-wide, all on one clock, then prints:
  - the server's system calls per request (requests: device completions of requests the server's threads issued),
    and the io_uring_enter calls by (to_submit, min_complete): how many requests each call submits, and whether it
    waits;
  - the median, mean and p90 of each stage of the loop a request slot goes round: a device completion to the
    server's next reply write (write/sendmsg on its socket), that write to the client's next receive of data, the
    client's receive to its next send (its next request), that send to the server's next socket read, that read to
    the server's next request issued to the device. Each stage is the time from an event to the next event of the
    following kind: for batched replies or requests it measures the first of a batch.
The server's socket is the descriptor of most sendmsg/recvmsg calls, else of most writes; the device's requests are
those issued by the server's threads seen in its trace (io_uring submits in the caller's context; requests a kworker
issues are left out). Tracing costs each system call
a few microseconds and slows both sides: compare servers under the same tracing, in alternation, not with the rates of
untraced runs.
"""
import bisect
import collections
import os
import re
import subprocess
import sys
import tempfile

SERVER_EVENTS = ['syscalls:sys_enter_' + c for c in ('read', 'write', 'recvmsg', 'sendmsg', 'readv', 'writev',
                                                     'io_uring_enter', 'ppoll', 'poll', 'epoll_wait', 'futex')]
CLIENT_EVENTS = ['syscalls:sys_enter_sendmsg', 'syscalls:sys_exit_recvmsg']
BLOCK_EVENTS = ['block:block_rq_issue', 'block:block_rq_complete']
LINE = re.compile(r'\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)')
FD = re.compile(r'fd: 0x([0-9a-f]+)')
SECTOR = re.compile(r'\) (\d+) \+ (\d+)')
ENTER = re.compile(r'to_submit: 0x([0-9a-f]+), min_complete: 0x([0-9a-f]+)')


def script(data):
    """(tid, time, event, fields) of every event in a perf.data file."""
    out = subprocess.run(['perf', 'script', '-i', data, '-F', 'tid,time,event,trace'], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            yield int(m.group(1)), float(m.group(2)), m.group(3), m.group(4)


def stage(a, b):
    """Times from each event of a to the next event of b, in microseconds, sorted."""
    out = []
    for x in a:
        k = bisect.bisect_right(b, x)
        if k < len(b):
            out.append(1e6 * (b[k] - x))
    return sorted(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        block, server, client = (os.path.join(tmp, n) for n in ('block.data', 'server.data', 'client.data'))
        recorders = [subprocess.Popen(['perf', 'record', '-q', '-a', '-o', block, '-e', ','.join(BLOCK_EVENTS)],
                                      stderr=subprocess.DEVNULL),
                     subprocess.Popen(['perf', 'record', '-q', '-p', str(pid), '-o', server, '-e',
                                       ','.join(SERVER_EVENTS)], stderr=subprocess.DEVNULL)]
        subprocess.run(['sleep', '0.5'], check=True)  # perf's own start-up, outside the client's run
        subprocess.run(['perf', 'record', '-q', '-o', client, '-e', ','.join(CLIENT_EVENTS), '--'] + sys.argv[2:],
                       check=True, stderr=subprocess.DEVNULL)
        for r in recorders:
            r.send_signal(2)
            r.wait()
        calls = collections.Counter()
        enters = collections.Counter()
        by_fd = collections.defaultdict(lambda: collections.defaultdict(list))
        tids = set()  # the server's threads seen in the run (a connection's thread lives as long as its client)
        for tid, t, event, fields in script(server):
            tids.add(tid)
            name = event.split('sys_enter_')[-1]
            calls[name] += 1
            m = FD.search(fields)
            if m:
                by_fd[int(m.group(1), 16)][name].append(t)
            m = ENTER.search(fields)
            if m and name == 'io_uring_enter':
                enters[(int(m.group(1), 16), int(m.group(2), 16))] += 1
        # the socket: the descriptor of most sendmsg/recvmsg calls (qemu-nbd writes an eventfd more often than its
        # socket), else of most writes (the JDK reads and writes a socket with read/write)
        sock = max(by_fd, key=lambda fd: (len(by_fd[fd]['sendmsg']) + len(by_fd[fd]['recvmsg']), len(by_fd[fd]['write'])))
        replies = sorted(by_fd[sock]['write'] + by_fd[sock]['sendmsg'] + by_fd[sock]['writev'])
        reads = sorted(by_fd[sock]['read'] + by_fd[sock]['recvmsg'] + by_fd[sock]['readv'])
        issued, completions, issues = {}, [], []
        for tid, t, event, fields in script(block):
            m = SECTOR.search(fields)
            if not m:
                continue
            if event == 'block:block_rq_issue' and tid in tids:
                issued[m.group(1)] = t
                issues.append(t)
            elif event == 'block:block_rq_complete' and issued.pop(m.group(1), None) is not None:
                completions.append(t)
        received, sent = [], []
        for tid, t, event, fields in script(client):
            if event == 'syscalls:sys_enter_sendmsg':
                sent.append(t)
            elif event == 'syscalls:sys_exit_recvmsg' and 0 < int(fields.strip(), 16) < 1 << 63:
                received.append(t)
    n = len(completions)
    if n == 0:
        sys.exit('nbd-round-trip: no device request of the server seen (is the image on a disk, not tmpfs?)')
    print('requests seen at the device: %d; server socket fd %d' % (n, sock))
    print('server system calls per request: ' + ', '.join('%s %.2f' % (c, k / n) for c, k in calls.most_common()))
    print('  on its socket: %.2f writes (replies), %.2f reads' % (len(replies) / n, len(reads) / n))
    print('  io_uring_enter by (to_submit, min_complete): ' + ', '.join(
        '%s %.2f' % (k, v / n) for k, v in enters.most_common(6)))
    print('client per request: %.2f sends, %.2f receives of data' % (len(sent) / n, len(received) / n))
    issues.sort()
    completions.sort()
    for label, a, b in (('device completion -> server reply write', completions, replies),
                        ('server reply write -> client receives', replies, received),
                        ('client receives -> client sends', received, sent),
                        ('client sends -> server socket read', sent, reads),
                        ('server socket read -> device issue', reads, issues)):
        s = stage(a, b)
        if s:
            print('  %-40s median %6.1f  mean %7.1f  p90 %7.1f us' % (label, s[len(s) // 2], sum(s) / len(s),
                                                                      s[int(0.9 * len(s))]))


if __name__ == '__main__':
    main()
