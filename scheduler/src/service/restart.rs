//! Restarting the cluster ([`ToScheduler::Restart`](crate::wire::ToScheduler::Restart),
//! Dask's `client.restart()`): every task, held value and dataset is forgotten (clients
//! hear their keys were restarted away), every worker process starts again as new, and
//! the client hears back once as many workers have joined as there were.

use std::time::{Duration, Instant};

use super::Reactor;
use super::comm::ShellComm;
use crate::wire::{FromScheduler, ToWorker};

/// A restart waiting for its workers.
#[derive(Debug)]
pub(super) struct Pending {
    /// Who asked (a restart asked during another answers with it): connections and the
    /// runs to answer.
    askers: Vec<(u64, u64)>,
    /// Workers there were.
    workers: usize,
    /// When to give up waiting.
    deadline: Instant,
}

impl Reactor {
    /// Forgets everything and restarts the workers; answered by [`Reactor::check_restart`].
    pub(super) fn restart(&mut self, conn: u64, run: u64, timeout: Duration) {
        let (mut askers, mut workers) = (vec![(conn, run)], self.workers.len());
        if let Some(earlier) = self.restarting.take() {
            askers.extend(earlier.askers);
            workers = workers.max(earlier.workers);
        }
        self.core.restart();
        let mut scopes = self.datasets.clear();
        scopes.extend(self.fired.drain(..).map(|(scope, _)| scope));
        for scope in scopes {
            self.end_scope(scope);
        }
        // Told first, then forgotten: a worker's link sends what is queued before it
        // closes, and the worker's farewell finds it gone (not counted as lost).
        for (id, worker) in self.workers.drain() {
            match self.pool.as_mut() {
                Some(pool) => pool.spawner.end(id),
                None => {
                    let _ = worker.link.send(&ToWorker::Restart);
                }
            }
        }
        self.top_up();
        self.publish_state();
        tracing::info!(workers, "cluster restarted; waiting for the workers to come back");
        self.restarting = Some(Pending { askers, workers, deadline: Instant::now() + timeout });
        let mut comm = ShellComm::new(&self.workers, &self.clients, &self.owners);
        self.core.flush(&mut comm);
        drop(comm); // The news that keys are gone go before the answer.
        self.check_restart();
    }

    /// Answers a restart once its workers are back, or refuses it past its deadline.
    pub(super) fn check_restart(&mut self) {
        let Some(pending) = &self.restarting else { return };
        let back = self.workers.len();
        let refusal = if back >= pending.workers {
            None
        } else if Instant::now() >= pending.deadline {
            Some(format!("restart: only {back} of the {} workers came back in time", pending.workers))
        } else {
            return;
        };
        let Some(pending) = self.restarting.take() else { return };
        for (conn, run) in pending.askers {
            let news = match &refusal {
                None => FromScheduler::Done,
                Some(reason) => FromScheduler::Refused { run, reason: reason.clone() },
            };
            self.reply(conn, run, news);
        }
    }
}
