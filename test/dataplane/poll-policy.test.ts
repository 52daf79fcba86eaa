/**
 * The data-plane loop's poll policy (src/dataplane/poll-policy.ts), pure, with a fake clock:
 * what it says to do for no traffic, a steady ping-like flow, a dense flow, a flow that stops,
 * irregular traffic, a fixed busy-poll window and adaptive polling switched off.
 * A little simulated loop drives it the way loop.ts does: ask next(), "wait" accordingly
 * (an arrival inside a sleep or block ends it), report work or idle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK, GUARD_MS, MAX_SPIN_MS, POLL, PollPolicy } from '../../src/dataplane/poll-policy.js';

interface Run { pollMs: number; sleeps: number; blocks: number; wokenBySleep: number; delays: number[] }

/**
 * Drive `p` over [0, endMs) with frames arriving at `arrivals` (sorted ms). A poll costs
 * 0.002 ms; a timed sleep wakes `lateMs` after it was asked to. Each arrival's delay is how long
 * it waited for the loop to look (0 while polling; the wake-up cost `wakeMs` when the loop was asleep).
 */
function simulate(p: PollPolicy, arrivals: number[], endMs: number, lateMs = 0.02, wakeMs = 0.06): Run {
  const r: Run = { pollMs: 0, sleeps: 0, blocks: 0, wokenBySleep: 0, delays: [] };
  let now = 0;
  let i = 0;
  const POLL_COST = 0.002;
  while (now < endMs) {
    const d = p.next(now);
    if (d === POLL) {
      now += POLL_COST;
      r.pollMs += POLL_COST;
      if (i < arrivals.length && arrivals[i] <= now) {
        r.delays.push(0);
        i++;
        p.work(now);
      } else p.idle(now);
      continue;
    }
    const until = d === BLOCK ? endMs : now + d + lateMs;
    if (d === BLOCK) r.blocks++; else r.sleeps++;
    if (i < arrivals.length && arrivals[i] < until) {
      now = Math.max(now, arrivals[i]) + wakeMs; // an fd event wakes the sleeper
      r.delays.push(wakeMs);
      i++;
      p.work(now);
    } else {
      now = until;
      if (d !== BLOCK) r.wokenBySleep++;
      p.idle(now);
    }
  }
  return r;
}

const every = (period: number, from: number, to: number): number[] => {
  const xs: number[] = [];
  for (let t = from; t < to; t += period) xs.push(t);
  return xs;
};

test('no traffic: the loop blocks and never polls', () => {
  const p = new PollPolicy();
  assert.equal(p.next(0), BLOCK);
  const r = simulate(p, [], 1000);
  assert.equal(r.pollMs, 0);
});

test('a steady 10 ms flow: after a few periods frames find the loop polling, at a few percent of the CPU', () => {
  const p = new PollPolicy();
  const arrivals = every(10, 5, 2005);
  const r = simulate(p, arrivals, 2010);
  assert.equal(r.delays.length, arrivals.length);
  const late = r.delays.slice(10); // after the policy has learnt the period
  const polled = late.filter((x) => x === 0).length;
  assert.ok(polled >= 0.95 * late.length, `${polled} of ${late.length} frames found the loop polling`);
  assert.ok(r.sleeps > 0, 'it slept on a timer between frames');
  assert.ok(r.pollMs < 0.1 * 2000, `polled ${r.pollMs.toFixed(1)} ms of 2000 ms`);
  assert.ok(Math.abs(p.estimate.period - 10) < 0.5, `period ${p.estimate.period}`);
  assert.ok(p.hits > p.misses);
});

test('when the flow stops the loop goes back to blocking within a period or two', () => {
  const p = new PollPolicy();
  const r = simulate(p, every(10, 5, 500), 5000);
  // Polling after the last frame (at 495): at most a couple of predicted windows.
  const q = new PollPolicy();
  const r2 = simulate(q, every(10, 5, 500), 500);
  assert.ok(r.pollMs - r2.pollMs < 2 * (2 * GUARD_MS + 1), `polled ${(r.pollMs - r2.pollMs).toFixed(3)} ms after the flow stopped`);
  assert.equal(p.next(5000), BLOCK);
  assert.ok(p.misses >= 1);
});

test('an answer 0.08 ms after each request: the spin grows to catch it, so each exchange costs one wake-up', () => {
  const p = new PollPolicy();
  // Requests every 7-13 ms (too irregular to predict), each answered 0.08 ms after the loop saw it.
  const arrivals: number[] = [];
  for (let t = 1, k = 0; t < 3000; t += 7 + (k++ * 5) % 7) arrivals.push(t, t + 0.06 + 0.08);
  const r = simulate(p, arrivals, 3000);
  const answers = r.delays.filter((_, i) => i % 2 === 1).slice(5);
  const caught = answers.filter((x) => x === 0).length;
  assert.ok(caught >= 0.95 * answers.length, `${caught} of ${answers.length} answers found the loop polling`);
  assert.ok(p.estimate.spin > 0.08 && p.estimate.spin <= 0.5, `spin ${p.estimate.spin}`);
  assert.ok(r.pollMs < 0.05 * 3000, `polled ${r.pollMs.toFixed(1)} ms of 3000`);
});

test('a dense flow (frames 0.1 ms apart) is polled through, and the loop blocks once it ends', () => {
  const p = new PollPolicy();
  const r = simulate(p, every(0.1, 1, 50), 60);
  const polled = r.delays.filter((x) => x === 0).length;
  assert.ok(polled >= 0.95 * r.delays.length, `${polled} of ${r.delays.length}`);
  assert.equal(p.next(60), BLOCK);
});

test('irregular traffic is not predicted: blocks between frames, polls only the spin after each', () => {
  const p = new PollPolicy();
  // Gaps alternating 3 ms and 40 ms: the deviation is too large for a prediction.
  const arrivals: number[] = [];
  for (let t = 1, k = 0; t < 2000; t += k++ % 2 === 0 ? 3 : 40) arrivals.push(t);
  const r = simulate(p, arrivals, 2000);
  assert.ok(r.pollMs <= arrivals.length * (MAX_SPIN_MS + 0.01), `polled ${r.pollMs.toFixed(2)} ms for ${arrivals.length} frames`);
});

test('a fixed window polls for exactly that long after the work is done and ignores prediction', () => {
  const p = new PollPolicy(5);
  p.work(0);
  assert.equal(p.next(0.2), POLL, 'processing what the wake-up found took 0.2 ms: the window starts here');
  p.idle(0.21);
  assert.equal(p.next(5.1), POLL);
  assert.equal(p.next(5.3), BLOCK);
});

test('a cold wake-up whose processing outlasts the spin still polls once, and a ping-like flow is predicted', () => {
  // The loop: a wait finds the request (work), forwarding it takes 0.06 ms (> SPIN_MS) and makes
  // the reply at once (a guest's ping answer to the frame written); then next().
  const p = new PollPolicy();
  let t = 5;
  let predictedSleeps = 0;
  for (let i = 0; i < 60; i++) {
    p.work(t); // woken by the request
    assert.equal(p.next(t + 0.06), POLL, `cycle ${i}: one poll after the work, however long it took`);
    p.work(t + 0.062); // the poll finds the reply
    let now = t + 0.1;
    let d = p.next(now);
    while (d === POLL) { now += 0.002; p.idle(now); d = p.next(now); }
    if (d > 0) {
      predictedSleeps++;
      assert.ok(d < 10, `a sleep until just before the next request (${d} ms)`);
    }
    t += 10 + (i % 3) * 0.02; // a ping every ~10 ms, a little jitter
  }
  assert.ok(Math.abs(p.estimate.period - 10.02) < 0.1, `the period is learnt: ${p.estimate.period}`);
  assert.ok(predictedSleeps >= 40, `the next request is predicted (${predictedSleeps} of 60 cycles)`);
  assert.ok(p.hits >= 40, `predictions come true: ${p.hits}`);
});

test('adaptive polling off: always blocks', () => {
  const p = new PollPolicy(0, false);
  const r = simulate(p, every(10, 5, 500), 500);
  assert.equal(r.pollMs, 0);
  assert.ok(r.delays.every((x) => x > 0));
});
