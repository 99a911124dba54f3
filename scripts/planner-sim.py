#!/usr/bin/env python3
"""Offline model of `dynamo bench --planner`, to try planner rules in seconds instead of 8-minute runs.

Not a test and not part of the build: a what-if tool (docs/architecture.md, Planner, Benchmark). It
replays the bench's load (a Poisson process whose rate follows a sine from trough to peak) against
replicas modelled as FIFO servers of a constant service time, routed to the least loaded one, with a
planner that decides every interval the way src/planner/ does (M/D/c sizing, the backlog beyond the
wait budget, the ramp forecast, the scale-down hold). A new replica serves START_S after the decision;
a stopped one counts as provisioned until its queue is done plus a decode tail.

Calibrated on the real runs of 2026-12-02 (docs/architecture.md r18-r26): with 0.12 s of engine per
request (a prefill correction of about 0.8 against the profile's 0.0977 s) it reproduced the planner's
r23 (period 20 s) and r25 (40 s) within 3 points of SLA and 0.01 of the replica-seconds ratio. It is
optimistic where a deployment is overloaded for long (static mean: 74 % modelled, 40 % measured), and
its arrivals are exact Poisson counts, quieter than the frontend's observed rate (so it flatters
--scale-down-hold 1, which flapped at the peaks for real: r24).

    python3 scripts/planner-sim.py                      # the default rule set at P20 and P40
    python3 scripts/planner-sim.py --period 60 --model-service-s 0.0977   # a planner on the raw profile
"""

import argparse
import math
import random

TTFT_TARGET_S = 0.4
EPSILON = 0.05  # share of requests the queueing headroom lets wait past the budget (throughput.ts)
START_S = 0.5  # decision to serving, an in-process mocker worker
DRAIN_TAIL_S = 0.3  # a stopped worker's last streams finish decoding


def erlang_c(c, a):
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def replicas_for(rate, service_s):
    """throughput.ts replicasForWait: the least c with C(c, a) exp(-2 (c - a) w / S) <= epsilon."""
    a = rate * service_s
    if a <= 0:
        return 0
    wait = TTFT_TARGET_S - service_s
    c = max(1, math.floor(a) + 1)
    while wait > 0 and erlang_c(c, a) * math.exp(-2 * (c - a) * wait / service_s) > EPSILON:
        c += 1
    return c


def ramp_forecast(rates, interval_s, window):
    """throughput.ts rampForecast: the line through the last `window` rates, at the next interval's end."""
    ys = rates[-window:]
    n = len(ys)
    if window < 2 or n < 2:
        return None
    xm = (n - 1) / 2
    ym = sum(ys) / n
    slope = sum((x - xm) * (y - ym) for x, y in enumerate(ys)) / sum((x - xm) ** 2 for x in range(n))
    return max(0.0, ym + slope * (n - 1 - xm + 1.5 + START_S / interval_s))


def run(args, seed, static=None):
    rnd = random.Random(seed)
    end = args.period * args.periods
    arrivals, t = [], 0.0
    while True:
        t += rnd.expovariate(args.peak)
        if t >= end:
            break
        rate = (args.peak + args.trough) / 2 - (args.peak - args.trough) / 2 * math.cos(2 * math.pi * t / args.period)
        if rnd.random() * args.peak <= rate:
            arrivals.append(t)
    model_s = args.model_service_s
    first = static or max(1, replicas_for(args.trough, model_s))
    reps = [{"free": 0.0, "active": 0.0, "stopped": False, "end": None} for _ in range(first)]
    ok = total = 0
    cost = 0.0
    rates, proposals = [], []
    count, i, now, dt, next_decision = 0, 0, 0.0, 0.01, args.interval
    while now < end + 2:
        while i < len(arrivals) and arrivals[i] < now + dt:
            at = arrivals[i]
            i += 1
            count += 1
            live = [r for r in reps if not r["stopped"]]
            serving = [r for r in live if r["active"] <= at] or live
            r = min(serving, key=lambda r: max(r["free"], r["active"]))
            start = max(at, r["free"], r["active"])
            r["free"] = start + args.service_s
            total += 1
            ok += (start - at + args.service_s) <= TTFT_TARGET_S
        cost += sum(1 for r in reps if r["end"] is None or r["end"] > now) * dt
        now += dt
        if static or now < next_decision - 1e-9:
            continue
        next_decision += args.interval
        rates.append(count / args.interval)
        count = 0
        forecast = rates[-1]
        ramp = ramp_forecast(rates, args.interval, args.trend_window)
        if ramp is not None:
            forecast = max(forecast, ramp)
        live = [r for r in reps if not r["stopped"]]
        # The backlog beyond what the engines clear within the wait budget (throughput.ts).
        queued_s = sum(max(0.0, r["free"] - now) for r in live) * model_s / args.service_s
        excess_s = max(0.0, queued_s - len(live) * (TTFT_TARGET_S - model_s))
        want = max(1, min(args.max_replicas, replicas_for(forecast + excess_s / args.interval / model_s, model_s)))
        proposals = (proposals + [want])[-args.scale_down_hold :]
        want = max(proposals)
        if any(r["active"] > now for r in live):
            continue  # no new action until the previous one is ready
        if want > len(live):
            reps += [{"free": 0.0, "active": now + START_S, "stopped": False, "end": None} for _ in range(want - len(live))]
        for r in sorted(live, key=lambda r: r["free"])[: max(0, len(live) - want)]:
            r["stopped"] = True
            r["end"] = max(now, r["free"]) + DRAIN_TAIL_S
    return ok / total, cost


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trough", type=float, default=10)
    p.add_argument("--peak", type=float, default=50)
    p.add_argument("--period", type=float, nargs="*", default=[20, 40])
    p.add_argument("--periods", type=int, default=3)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--service-s", type=float, default=0.12, help="true seconds of engine per request")
    p.add_argument("--model-service-s", type=float, default=0.12, help="what the planner believes")
    p.add_argument("--trend-window", type=int, nargs="*", default=[0, 4])
    p.add_argument("--scale-down-hold", type=int, nargs="*", default=[1, 2])
    p.add_argument("--max-replicas", type=int, default=12)
    p.add_argument("--seeds", type=int, default=6)
    a = p.parse_args()
    for period in a.period:
        base = argparse.Namespace(**{**vars(a), "period": period})
        peak_n = replicas_for(a.peak, a.model_service_s)
        mean_n = replicas_for((a.peak + a.trough) / 2, a.model_service_s)
        peak = run(base, 1, static=peak_n)
        mean = run(base, 1, static=mean_n)
        print(f"period {period} s: static peak {peak_n} → {peak[0]:.3f} within SLA; static mean {mean_n} → {mean[0]:.3f}")
        for trend in a.trend_window:
            for hold in a.scale_down_hold:
                args = argparse.Namespace(**{**vars(base), "trend_window": trend, "scale_down_hold": hold})
                runs = [run(args, s) for s in range(1, a.seeds + 1)]
                sla = sum(r[0] for r in runs) / len(runs)
                ratio = sum(r[1] for r in runs) / len(runs) / peak[1]
                print(f"  trend-window {trend} scale-down-hold {hold}: {sla:.3f} within SLA, {ratio:.3f}× static peak")


if __name__ == "__main__":
    main()
