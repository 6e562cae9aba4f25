#!/usr/bin/env python3
"""What reaches the disk while a command runs on one file: counts from the block layer's tracepoints.

Usage: bench/blk-trace.py FILE CMD [ARGS...]     (root; tracefs mounted; FILE on a disk, not tmpfs)

Runs CMD with the block tracepoints on (in a tracefs instance of its own) and keeps the events that fall inside
FILE's physical extents (filefrag), so other processes' I/O on the same disk is left out. Prints:
  - bios queued by size and by the thread that queued them (io-wq workers show up as iou-wrk-*);
  - requests issued to the driver by size, bio merges, splits and requeues (a driver that ran out of room, e.g. a
    virtio ring without indirect descriptors);
  - the device's mean depth (requests issued and not completed, weighted by time), the share of time it had work,
    the mean request latency, and how often it ran dry (idle periods between a completion and the next issue);
  - the depth each request found when it was issued, and how requests were issued and completed in bursts (events
    less than 3 us apart): a tool that submits many requests per system call issues them in bursts, one that submits
    from a thread per request one by one; a device that completes a whole batch at once completes in bursts;
  - how soon the tool answers a completion burst: the time from its last completion to the next request issued, and
    to the issue that replaces its last request (as many issues after it as it completed).
Idle stretches over 5 ms with nothing in flight (the command's start-up) are left out of the time base.
Depth and idle figures are times measured on the host: compare tools in alternation, on a quiet machine.
"""
import bisect
import collections
import os
import re
import subprocess
import sys

TRACEFS = '/sys/kernel/tracing'
EVENTS = ['block_bio_queue', 'block_rq_issue', 'block_rq_complete', 'block_rq_requeue', 'block_split',
          'block_bio_backmerge', 'block_bio_frontmerge']
STARTUP_GAP = 0.005
BURST_GAP = 3e-6


def bursts(times):
    """(number of bursts, mean burst size) of sorted event times, a burst ending where the next event is over
    BURST_GAP later."""
    if not times:
        return 0, 0.0
    count = 1 + sum(1 for a, b in zip(times, times[1:]) if b - a > BURST_GAP)
    return count, len(times) / count


def resubmission(completes, issues):
    """For each completion burst (events < BURST_GAP apart): the time from its last completion to the first request
    issued after it, and to the issue that makes up its count (as many issues after it as it had completions: the
    burst's replacements, if the tool replaces each completed request). Two sorted lists of microseconds, median and
    p90 taken by the caller."""
    first, whole = [], []
    i = 0
    while i < len(completes):
        j = i
        while j + 1 < len(completes) and completes[j + 1] - completes[j] <= BURST_GAP:
            j += 1
        k = bisect.bisect_right(issues, completes[j])
        if k < len(issues):
            first.append(1e6 * (issues[k] - completes[j]))
        if k + j - i < len(issues):
            whole.append(1e6 * (issues[k + j - i] - completes[j]))
        i = j + 1
    return sorted(first), sorted(whole)


def disk_of(path):
    """(major, minor) of the disk holding path and the sector where its partition starts (0 for a whole disk)."""
    st = os.stat(path)
    sysdev = '/sys/dev/block/%d:%d' % (os.major(st.st_dev), os.minor(st.st_dev))
    if os.path.exists(os.path.join(sysdev, 'partition')):
        start = int(open(os.path.join(sysdev, 'start')).read())
        parent = os.path.realpath(os.path.join(sysdev, '..'))
        major, minor = open(os.path.join(parent, 'dev')).read().strip().split(':')
        return int(major), int(minor), start
    return os.major(st.st_dev), os.minor(st.st_dev), 0


def extents(path, start):
    """The file's physical extents as [first, end) sectors of the disk."""
    out = subprocess.run(['filefrag', '-v', '-b512', path], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r'\s*\d+:\s+\d+\.\.\s*\d+:\s+(\d+)\.\.\s*(\d+):', line)
        if m:
            found.append((start + int(m.group(1)), start + int(m.group(2)) + 1))
    if not found:
        sys.exit('blk-trace: %s has no extents on a disk (expected: an allocated file on a disk file system)' % path)
    return found


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split('\n\n')[1])
    path, cmd = sys.argv[1], sys.argv[2:]
    major, minor, start = disk_of(path)
    spans = extents(path, start)
    inst = os.path.join(TRACEFS, 'instances', 'blk-trace-%d' % os.getpid())
    os.mkdir(inst)

    def put(name, value):
        with open(os.path.join(inst, name), 'w') as f:
            f.write(value)

    try:
        put('buffer_size_kb', '65536')
        for e in EVENTS:
            put('events/block/%s/filter' % e, 'dev == %d' % ((major << 20) | minor))
            put('events/block/%s/enable' % e, '1')
        put('tracing_on', '1')
        rc = subprocess.run(cmd).returncode
        put('tracing_on', '0')
        with open(os.path.join(inst, 'trace')) as f:
            lines = f.readlines()
    finally:
        for e in EVENTS:
            try:
                put('events/block/%s/enable' % e, '0')
            except OSError:
                pass
        os.rmdir(inst)
    report(lines, '%d,%d' % (major, minor), spans)
    sys.exit(rc)


def report(lines, dev, spans):
    def inside(sector):
        return any(a <= sector < b for a, b in spans)

    head = r'^\s*(.+?)-\d+\s+\[\d+\]\s+\S+\s+([\d.]+): (\w+): ' + re.escape(dev) + ' '
    with_bytes = re.compile(head + r'(\S+) (\d+) \(\S*\) (\d+) \+ (\d+)')     # block_rq_issue
    plain = re.compile(head + r'(\S+) (?:\(\S*\) )?(\d+) \+ (\d+)')          # the others but split
    split = re.compile(head + r'\S+ (\d+) / ')
    bios, issued, by = collections.Counter(), collections.Counter(), collections.Counter()
    merges = splits = requeues = 0
    inflight, last, first, skipped, area, busy = 0, None, None, 0.0, 0.0, 0.0
    issued_at, latencies, idles, idle_since = {}, [], [], None
    issue_times, complete_times, depth_at_issue = [], [], 0
    for line in lines:
        m = split.match(line)
        if m and m.group(3) == 'block_split':
            splits += inside(int(m.group(4)))
            continue
        m = with_bytes.match(line) or plain.match(line)
        if not m:
            continue
        comm, t, ev, rwbs = m.group(1), float(m.group(2)), m.group(3), m.group(4)
        sector, n = (int(m.group(6)), int(m.group(7))) if m.re is with_bytes else (int(m.group(5)), int(m.group(6)))
        if not inside(sector):
            continue
        if ev == 'block_bio_queue':
            bios[(rwbs, n * 512)] += 1
            by[comm] += 1
            continue
        if ev in ('block_bio_backmerge', 'block_bio_frontmerge'):
            merges += 1
            continue
        if ev == 'block_rq_requeue':
            requeues += 1
            inflight = max(0, inflight - 1)
            continue
        if last is not None:
            dt = t - last
            if inflight == 0 and dt > STARTUP_GAP:
                skipped += dt
                dt = 0
            area += inflight * dt
            busy += dt if inflight else 0
        last = t
        first = t if first is None else first
        if ev == 'block_rq_issue':
            if inflight == 0 and idle_since is not None and t - idle_since < STARTUP_GAP:
                idles.append(t - idle_since)
            issued[(rwbs, n * 512)] += 1
            issue_times.append(t)
            depth_at_issue += inflight
            inflight += 1
            issued_at[sector] = t
        elif ev == 'block_rq_complete':
            complete_times.append(t)
            inflight = max(0, inflight - 1)
            if inflight == 0:
                idle_since = t
            if sector in issued_at:
                latencies.append(t - issued_at.pop(sector))
    print('bios queued (rw, bytes): %s by %s' % (dict(bios.most_common(6)), dict(by.most_common(4))))
    print('requests issued (rw, bytes): %s; bio merges %d, splits %d, requeues %d'
          % (dict(issued.most_common(6)), merges, splits, requeues))
    span = (last - first - skipped) if first is not None else 0
    if span <= 0:
        return
    total = sum(issued.values())
    print('device: mean depth %.2f, busy %.1f%% of %.3f s, mean request latency %.0f us'
          % (area / span, 100 * busy / span, span, 1e6 * sum(latencies) / max(1, len(latencies))))
    print('depth found at issue: mean %.2f; issued in %d bursts of %.2f, completed in %d bursts of %.2f (events < %.0f us apart)'
          % ((depth_at_issue / max(1, total),) + bursts(issue_times) + bursts(complete_times) + (1e6 * BURST_GAP,)))
    first, whole = resubmission(complete_times, issue_times)
    if first and whole:
        print('after a completion burst: next issue median %.0f us, p90 %.0f us; as many issues as it completed median'
              ' %.0f us, p90 %.0f us' % (first[len(first) // 2], first[int(len(first) * 0.9)], whole[len(whole) // 2],
                                         whole[int(len(whole) * 0.9)]))
    if idles:
        idles.sort()
        print('ran dry %d times (%.1f requests apart): idle median %.0f us, p90 %.0f us'
              % (len(idles), total / len(idles), 1e6 * idles[len(idles) // 2], 1e6 * idles[int(len(idles) * 0.9)]))


if __name__ == '__main__':
    main()
