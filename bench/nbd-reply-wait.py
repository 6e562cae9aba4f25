#!/usr/bin/env python3
"""What an NBD server's thread is doing when a disk request completes, until it writes the reply.

Usage: bench/nbd-reply-wait.py SERVER_PID CLIENT_CMD [ARGS...]     (root; perf; the server already running)

The first stage of bench/nbd-round-trip.py (a device completion to the server's next reply write) taken apart, for
a server whose one thread submits the requests and writes the replies (vdisk's reader on an io_uring queue, qemu-nbd's
event loop): that thread is the one that issues most of the server's requests to the device. Runs CLIENT_CMD while
`perf record` traces the block layer's issues and completions and the scheduler's switches and wake-ups system-wide,
and the server's io_uring_enter calls and reply writes (write, writev, sendmsg on its socket), then prints, per
completion of a request that thread issued, where the thread was when it landed:
  - asleep (switched out): the median time from the completion to the thread's wake-up, to its return to a CPU
    and to the next reply write;
  - running: in io_uring_enter submitting (min_complete 0) or waiting (min_complete > 0), or elsewhere;
and, for the asleep ones, the thread's system calls between its return to a CPU and the reply write, most common
sequences first (X: the return from io_uring_enter; E<to_submit>,<min_complete>: an io_uring_enter), with the
median time each took and, for the plain "X write", how long the thread spent after the return from io_uring_enter
before the write (its own work on the completions; preempted ones counted apart). Tracing slows both sides: compare
servers under the same tracing, in alternation.
"""
import bisect
import collections
import importlib.util
import os
import subprocess
import sys
import tempfile

_spec = importlib.util.spec_from_file_location('nbd_round_trip', os.path.join(os.path.dirname(os.path.abspath(
    __file__)), 'nbd-round-trip.py'))
round_trip = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(round_trip)  # its trace reader and patterns: the same perf output is read the same way
script, SECTOR, FD, ENTER = round_trip.script, round_trip.SECTOR, round_trip.FD, round_trip.ENTER

WRITES = ('write', 'writev', 'sendmsg')
SERVER_EVENTS = ['syscalls:sys_enter_io_uring_enter', 'syscalls:sys_exit_io_uring_enter'] + [
    'syscalls:sys_enter_' + c for c in WRITES + ('read', 'recvmsg')]
SYSTEM_EVENTS = ['block:block_rq_issue', 'block:block_rq_complete', 'sched:sched_switch', 'sched:sched_wakeup']


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if v else float('nan')


def after(times, t):
    """The first of sorted times after t, or None."""
    k = bisect.bisect_right(times, t)
    return times[k] if k < len(times) else None


def record(pid, command, tmp):
    system, server = os.path.join(tmp, 'system.data'), os.path.join(tmp, 'server.data')
    recorders = [subprocess.Popen(['perf', 'record', '-q', '-a', '-o', system, '-e', ','.join(SYSTEM_EVENTS)],
                                  stderr=subprocess.DEVNULL),
                 subprocess.Popen(['perf', 'record', '-q', '-p', str(pid), '-o', server, '-e',
                                   ','.join(SERVER_EVENTS)], stderr=subprocess.DEVNULL)]
    subprocess.run(['sleep', '0.5'], check=True)  # perf's own start-up, outside the client's run
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    for r in recorders:
        r.send_signal(2)
        r.wait()
    return list(script(system)), list(script(server))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        system, server = record(int(sys.argv[1]), sys.argv[2:], tmp)
    issuers = collections.Counter(tid for tid, t, event, fields in system if event == 'block:block_rq_issue')
    tids = {tid for tid, t, event, fields in server}
    loop = max(tids, key=lambda tid: issuers[tid])  # the server's thread that issues most requests
    calls = [(t, event.split('sys_')[-1], fields) for tid, t, event, fields in server if tid == loop]
    by_fd = collections.defaultdict(collections.Counter)
    for t, name, fields in calls:
        m = FD.search(fields)
        if m and name.replace('enter_', '') in WRITES:
            by_fd[int(m.group(1), 16)][name.replace('enter_', '')] += 1
    # the socket: the descriptor of most sendmsg calls (qemu-nbd writes an eventfd more often than its socket), else
    # of most writes (the JDK writes a socket with write), as in nbd-round-trip.py
    sock = max(by_fd, key=lambda fd: (by_fd[fd]['sendmsg'], by_fd[fd]['write'] + by_fd[fd]['writev']))
    writes = [t for t, name, fields in calls if name.replace('enter_', '') in WRITES
              and FD.search(fields) and int(FD.search(fields).group(1), 16) == sock]
    inside = []  # (enter, exit, 'submit' or 'wait') of the thread's io_uring_enter calls
    entered = None
    for t, name, fields in calls:
        if name == 'enter_io_uring_enter':
            entered = (t, 'wait' if int(ENTER.search(fields).group(2), 16) > 0 else 'submit')
        elif name == 'exit_io_uring_enter' and entered:
            inside.append((entered[0], t, entered[1]))
            entered = None
    issued, completions, off, wakes = {}, [], [], []  # off: (switched out, back on a CPU) of the thread
    out_at = None
    for tid, t, event, fields in system:
        if event == 'block:block_rq_issue' and tid == loop:
            m = SECTOR.search(fields)
            if m:
                issued[m.group(1)] = t
        elif event == 'block:block_rq_complete':
            m = SECTOR.search(fields)
            if m and issued.pop(m.group(1), None) is not None:
                completions.append(t)
        elif event == 'sched:sched_switch':
            if 'prev_pid=%d ' % loop in fields:
                out_at = t
            elif fields.split('next_pid=')[-1].split()[0] == str(loop) and out_at is not None:
                off.append((out_at, t))
                out_at = None
        elif event == 'sched:sched_wakeup' and ' pid=%d ' % loop in fields:
            wakes.append(t)
    n = len(completions)
    if n == 0:
        sys.exit('nbd-reply-wait: no device request of the server seen (is the image on a disk, not tmpfs?)')
    completions.sort()
    writes.sort()
    wakes.sort()
    outs = [o for o, i in off]
    starts = [s for s, e, kind in inside]
    call_times = [t for t, name, fields in calls]
    where = collections.defaultdict(list)
    asleep = []  # (completion -> wake-up, -> on a CPU, -> write)
    sequences = collections.defaultdict(list)
    plain = []  # "X write": (exit -> write, preempted meanwhile)
    for c in completions:
        w = after(writes, c)
        if w is None:
            continue
        k = bisect.bisect_right(outs, c) - 1
        if k >= 0 and off[k][1] > c:
            back = off[k][1]
            woken = after(wakes, c)
            asleep.append(((woken - c) if woken is not None and woken <= back else None, back - c, w - c))
            first, last = bisect.bisect_left(call_times, back), bisect.bisect_left(call_times, w)
            seq = []
            for t, name, fields in calls[first:last + 1]:
                if name == 'enter_io_uring_enter':
                    m = ENTER.search(fields)
                    seq.append('E%d,%d' % (int(m.group(1), 16), int(m.group(2), 16)))
                else:
                    seq.append('X' if name == 'exit_io_uring_enter' else name.replace('enter_', ''))
            sequences[' '.join(seq[:10])].append(w - back)
            if seq[:2] == ['X', 'write'] or seq[:2] == ['X', 'sendmsg'] or seq[:2] == ['X', 'writev']:
                x = calls[first][0]
                preempted = after(outs, x)
                plain.append((w - x, preempted is not None and preempted < w))
            where['asleep'].append(w - c)
        else:
            j = bisect.bisect_right(starts, c) - 1
            kind = 'running in io_uring_enter ' + inside[j][2] if j >= 0 and inside[j][1] > c else 'running elsewhere'
            where[kind].append(w - c)
    us = 1e6
    print('server thread %d: %d completions of its requests, %.2f switches out and %.2f reply writes per request'
          % (loop, n, len(off) / n, len(writes) / n))
    for kind, v in sorted(where.items()):
        line = '  %-36s %5.1f%%  completion -> reply write median %6.1f us' % (kind, 100 * len(v) / n, us * median(v))
        if kind == 'asleep':
            line += ' (-> wake-up %.1f, -> on a CPU %.1f)' % (us * median([a[0] for a in asleep if a[0] is not None]),
                                                              us * median([a[1] for a in asleep]))
        print(line)
    total = sum(len(v) for v in sequences.values())
    for seq, v in sorted(sequences.items(), key=lambda kv: -len(kv[1]))[:6]:
        print('    %5.1f%% on a CPU -> write median %6.1f us: %s' % (100 * len(v) / total, us * median(v), seq))
    if plain:
        kept = [d for d, p in plain if not p]
        print('    X then the write: %.1f%% preempted between; the others spent a median %.1f us (p90 %.1f) after the '
              'return from io_uring_enter' % (100 * (len(plain) - len(kept)) / len(plain), us * median(kept),
                                              us * sorted(kept)[int(0.9 * len(kept))] if kept else float('nan')))


if __name__ == '__main__':
    main()
