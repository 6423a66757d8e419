//! Running a fleet: the targets in groups (the canary, then waves), each group `jobs` at a time;
//! a target whose lock another runner holds is set aside and tried again after the others.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Fleet, FleetEvents, FleetOptions, FleetTarget};
use crate::engine::{Engine, RunOptions, RunReport};
use crate::error::Error;
use crate::url::DatabaseUrl;

/// How one target ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum TargetOutcome {
    /// Its run succeeded: what it applied (nothing, when it was up to date).
    Done(RunReport),
    /// It failed: unreachable, refused, an upgrade or a check failed, its lock stayed held. The
    /// error carries what was applied before the failure, when anything was
    /// ([`Error::report`]).
    Failed(Error),
    /// The fleet stopped before it ([`FleetReport::stopped`]): nothing was done to it.
    NotStarted,
}

/// One target's end.
#[derive(Debug)]
pub struct TargetResult {
    /// The target.
    pub target: FleetTarget,
    /// How it ended.
    pub outcome: TargetOutcome,
    /// How long its runs took, attempts while its lock was held included.
    pub duration: Duration,
    /// How many times its lock was found held by another runner.
    pub held: u32,
}

impl TargetResult {
    /// Whether it failed.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, TargetOutcome::Failed(_))
    }
}

/// Why a fleet stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FleetStop {
    /// A canary target failed: nothing beyond the canary was started.
    Canary,
    /// A target of this wave (from 1) failed: no later wave was started.
    Wave(usize),
    /// A target failed and the fleet was told to stop at the first failure.
    FailFast,
}

/// What a fleet run did, target by target, in the fleet's order.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct FleetReport {
    /// Every target, in the fleet's order.
    pub targets: Vec<TargetResult>,
    /// Why the fleet stopped early, if it did.
    pub stopped: Option<FleetStop>,
}

impl FleetReport {
    /// The targets that failed.
    pub fn failed(&self) -> impl Iterator<Item = &TargetResult> {
        self.targets.iter().filter(|t| t.failed())
    }

    /// Whether every target's run succeeded.
    pub fn is_ok(&self) -> bool {
        self.stopped.is_none() && self.failed().next().is_none()
    }
}

impl Fleet {
    /// Runs `options` on every target: opens each with `open` (the caller sets the engine up:
    /// history table, timeouts, who runs it) and runs it as [`Engine::run`] does, without waiting
    /// for its lock ([`RunOptions::without_lock_wait`]). A target whose lock is held is set aside
    /// and tried again after the others (every [`FleetOptions::retry_pause`] at most, until
    /// [`FleetOptions::lock_timeout`] has passed since it was first found held). A target that
    /// fails does not stop the others, except in the canary, in a wave of its own, or with
    /// [`FleetOptions::fail_fast`].
    pub fn run(
        &self,
        open: &(dyn Fn(&DatabaseUrl) -> Result<Engine, Error> + Sync),
        run: &RunOptions,
        options: &FleetOptions,
        events: &dyn FleetEvents,
    ) -> FleetReport {
        let run = run.clone().without_lock_wait();
        let mut results: Vec<Option<TargetResult>> = self.targets.iter().map(|_| None).collect();
        let mut stopped = None;
        let groups = groups(self.targets.len(), options);
        let last = groups.len().saturating_sub(1);
        for (wave, group) in groups.into_iter().enumerate() {
            let canary = options.canary > 0 && wave == 0;
            let number = if options.canary > 0 { wave } else { wave + 1 };
            events.group_started(number, canary, &self.targets[group.clone()]);
            let done = Group::new(&self.targets[group], options).run(open, &run, events);
            let failed = done.iter().any(TargetResult::failed);
            let left = done
                .iter()
                .any(|r| matches!(r.outcome, TargetOutcome::NotStarted));
            for result in done {
                let index = result.target.index;
                results[index] = Some(result);
            }
            // A failure in the last group stops nothing, unless it left targets of its own.
            if failed && (wave < last || left) {
                stopped = if options.fail_fast {
                    Some(FleetStop::FailFast)
                } else if canary {
                    Some(FleetStop::Canary)
                } else if options.wave_size.is_some() {
                    Some(FleetStop::Wave(number))
                } else {
                    None
                };
                if stopped.is_some() {
                    break;
                }
            }
        }
        let targets = self
            .targets
            .iter()
            .zip(results)
            .map(|(target, result)| {
                result.unwrap_or_else(|| TargetResult {
                    target: target.clone(),
                    outcome: TargetOutcome::NotStarted,
                    duration: Duration::ZERO,
                    held: 0,
                })
            })
            .collect();
        FleetReport { targets, stopped }
    }
}

/// The targets' positions, grouped: the canary first, then waves.
fn groups(count: usize, options: &FleetOptions) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let canary = options.canary.min(count);
    if canary > 0 {
        groups.push(0..canary);
    }
    let size = options.wave_size.unwrap_or(count).max(1);
    let mut start = canary;
    while start < count {
        let end = (start + size).min(count);
        groups.push(start..end);
        start = end;
    }
    groups
}

/// One group of targets being run.
struct Group<'a> {
    targets: &'a [FleetTarget],
    options: &'a FleetOptions,
    state: Mutex<State>,
    changed: Condvar,
}

/// What the group's workers share.
struct State {
    /// Targets not tried yet (positions in the group).
    ready: VecDeque<usize>,
    /// Targets whose lock was held: position, and when to try again.
    held: Vec<(usize, Instant)>,
    /// Targets being run right now.
    running: usize,
    /// A failure under `fail_fast`: start nothing more.
    stop: bool,
    /// The targets done with.
    done: Vec<TargetResult>,
    /// Per target: when its lock was first found held, how often, time spent so far.
    tries: Vec<(Option<Instant>, u32, Duration)>,
}

/// What a worker takes next.
enum Next {
    Target(usize),
    Wait(Option<Instant>),
    Quit,
}

impl<'a> Group<'a> {
    fn new(targets: &'a [FleetTarget], options: &'a FleetOptions) -> Group<'a> {
        Group {
            targets,
            options,
            state: Mutex::new(State {
                ready: (0..targets.len()).collect(),
                held: Vec::new(),
                running: 0,
                stop: false,
                done: Vec::new(),
                tries: vec![(None, 0, Duration::ZERO); targets.len()],
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked left the state as it was between two steps: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs the group with its workers; the targets' results, in no particular order, with
    /// those never started (a fail-fast stop) as [`TargetOutcome::NotStarted`].
    fn run(
        self,
        open: &(dyn Fn(&DatabaseUrl) -> Result<Engine, Error> + Sync),
        run: &RunOptions,
        events: &dyn FleetEvents,
    ) -> Vec<TargetResult> {
        let workers = self.options.jobs.clamp(1, self.targets.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| self.work(open, run, events));
            }
        });
        let mut state = self.state.into_inner().unwrap_or_else(|e| e.into_inner());
        let left: Vec<usize> = state
            .ready
            .drain(..)
            .chain(state.held.drain(..).map(|(i, _)| i))
            .collect();
        for position in left {
            let (_, held, duration) = state.tries[position];
            state.done.push(TargetResult {
                target: self.targets[position].clone(),
                outcome: TargetOutcome::NotStarted,
                duration,
                held,
            });
        }
        state.done
    }

    /// One worker: takes targets until none is left.
    fn work(
        &self,
        open: &(dyn Fn(&DatabaseUrl) -> Result<Engine, Error> + Sync),
        run: &RunOptions,
        events: &dyn FleetEvents,
    ) {
        loop {
            let position = {
                let mut state = self.lock();
                loop {
                    match self.next(&mut state) {
                        Next::Target(position) => {
                            state.running += 1;
                            break position;
                        }
                        Next::Quit => return,
                        Next::Wait(until) => {
                            let pause = until.map_or(self.options.retry_pause, |t| {
                                t.saturating_duration_since(Instant::now())
                            });
                            state = self
                                .changed
                                .wait_timeout(state, pause)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    }
                }
            };
            let target = &self.targets[position];
            events.target_started(target);
            let started = Instant::now();
            let result = run_one(target, open, run, events);
            let elapsed = started.elapsed();
            let mut state = self.lock();
            state.running -= 1;
            state.tries[position].2 += elapsed;
            match result {
                Err(Error::LockHeld { holder }) => {
                    let now = Instant::now();
                    let first = *state.tries[position].0.get_or_insert(now);
                    state.tries[position].1 += 1;
                    if now.duration_since(first) < self.options.lock_timeout {
                        state.held.push((position, now + self.options.retry_pause));
                        drop(state);
                        events.target_held(target, holder.as_deref());
                    } else {
                        let waited = now.duration_since(first);
                        let done =
                            self.finish(&mut state, position, Err(Error::LockTimeout { holder, waited }));
                        drop(state);
                        events.target_finished(&done);
                        self.lock().done.push(done);
                    }
                }
                result => {
                    let done = self.finish(&mut state, position, result);
                    drop(state);
                    events.target_finished(&done);
                    self.lock().done.push(done);
                }
            }
            self.changed.notify_all();
        }
    }

    /// What to take next: a target not tried yet, else a held one whose pause is over; else wait
    /// (for a pause to end, or for a running target to come back held); else nothing is left.
    fn next(&self, state: &mut State) -> Next {
        if state.stop {
            return Next::Quit;
        }
        if let Some(position) = state.ready.pop_front() {
            return Next::Target(position);
        }
        let now = Instant::now();
        let soonest = state
            .held
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, at))| *at)
            .map(|(i, (_, at))| (i, *at));
        match soonest {
            Some((i, at)) if at <= now => Next::Target(state.held.swap_remove(i).0),
            Some((_, at)) => Next::Wait(Some(at)),
            // A running target may come back held: its worker takes it again itself, so this one
            // is not needed for it.
            None => Next::Quit,
        }
    }

    /// The result of a target done with; a failure under `fail_fast` stops the group.
    fn finish(&self, state: &mut State, position: usize, result: Result<RunReport, Error>) -> TargetResult {
        let (_, held, duration) = state.tries[position];
        let outcome = match result {
            Ok(report) => TargetOutcome::Done(report),
            Err(error) => {
                if self.options.fail_fast {
                    state.stop = true;
                }
                TargetOutcome::Failed(error)
            }
        };
        TargetResult {
            target: self.targets[position].clone(),
            outcome,
            duration,
            held,
        }
    }
}

/// One target's run: open, run, close.
fn run_one(
    target: &FleetTarget,
    open: &(dyn Fn(&DatabaseUrl) -> Result<Engine, Error> + Sync),
    run: &RunOptions,
    events: &dyn FleetEvents,
) -> Result<RunReport, Error> {
    let mut engine = open(&target.url)?;
    let mut ui = events.interaction(target);
    engine.run(ui.as_mut(), run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_the_canary_then_waves() {
        let options = |canary, wave| FleetOptions {
            canary,
            wave_size: wave,
            ..FleetOptions::default()
        };
        assert_eq!(groups(10, &options(0, None)), vec![0..10]);
        assert_eq!(groups(10, &options(2, None)), vec![0..2, 2..10]);
        assert_eq!(groups(10, &options(2, Some(3))), vec![0..2, 2..5, 5..8, 8..10]);
        assert_eq!(groups(10, &options(0, Some(5))), vec![0..5, 5..10]);
        assert_eq!(groups(3, &options(5, Some(2))), vec![0..3]);
        assert_eq!(groups(0, &options(0, None)), Vec::<std::ops::Range<usize>>::new());
    }
}
