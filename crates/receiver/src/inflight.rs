//! The process-wide budget of memory that requests being received may hold.
//!
//! Every HTTP and gRPC listener built from one [`crate::ReceiverContext`] draws from one
//! [`InflightBudget`] of [`crate::ReceiverConfig::max_inflight_bytes`]. A request charges
//! [`DECODE_EXPANSION`] times the bytes it holds (the body as received, and once
//! inflated, the inflated body) plus [`DECODED_SPAN_BYTES`] per span it will decode,
//! before it reads, inflates or decodes them, and gives the charge back when it is
//! answered. When the budget cannot cover a charge within [`InflightBudget::wait`], the
//! request fails with [`ReceiveError::Overloaded`] (HTTP 429 / RESOURCE_EXHAUSTED with a
//! retry hint). So the memory all requests in flight hold is bounded by the budget; a
//! gzip body (HTTP or gRPC) is charged step by step as it inflates, before each step
//! (see [`crate::body::inflate_charged`]).
//!
//! A single charge is clamped to the whole budget, so one request of `max_request_bytes`
//! is always admitted when nothing else is in flight.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ReceiveError;

/// How many bytes of memory decoding takes per body byte, beyond the spans themselves:
/// the body, the strings and attributes copied out of it, and the decoder's temporaries.
pub const DECODE_EXPANSION: u64 = 4;

/// Bytes charged per span to be decoded: a model span without its strings and
/// attributes (which [`DECODE_EXPANSION`] covers), rounded up.
pub const DECODED_SPAN_BYTES: u64 = 320;

/// How long a request waits for budget by default before it is refused.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// The retry hint sent with a refusal, in seconds.
const RETRY_AFTER_SECONDS: u32 = 1;

/// Permits are KiB so that a budget of terabytes still fits the semaphore's `u32` counts.
const BYTES_PER_PERMIT: u64 = 1024;

/// A shared budget of in-flight request bytes. Cloning shares the budget. Thread-safe.
#[derive(Debug, Clone)]
pub struct InflightBudget {
    semaphore: Arc<Semaphore>,
    capacity_permits: u32,
    wait: Duration,
}

impl InflightBudget {
    /// A budget of `max_inflight_bytes` (rounded up to whole KiB, at least 1 KiB, at most
    /// `u32::MAX` KiB) where a charge waits up to `wait` for room.
    pub fn new(max_inflight_bytes: u64, wait: Duration) -> Self {
        let capacity_permits = permits_for(max_inflight_bytes).max(1);
        InflightBudget {
            semaphore: Arc::new(Semaphore::new(capacity_permits as usize)),
            capacity_permits,
            wait,
        }
    }

    /// The budget in bytes (a multiple of 1 KiB).
    pub fn capacity_bytes(&self) -> u64 {
        u64::from(self.capacity_permits) * BYTES_PER_PERMIT
    }

    /// Bytes not charged to any request right now.
    pub fn available_bytes(&self) -> u64 {
        self.semaphore.available_permits() as u64 * BYTES_PER_PERMIT
    }

    /// How long a charge waits for room before it fails.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// An empty reservation on this budget; grow it with [`Reservation::grow_to`]. What it
    /// holds is given back when the last clone of it is dropped.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            held: Arc::new(Mutex::new(None)),
        }
    }

    fn overloaded(&self) -> ReceiveError {
        ReceiveError::Overloaded {
            limit_bytes: self.capacity_bytes(),
            retry_after_seconds: RETRY_AFTER_SECONDS,
        }
    }
}

/// What one request holds of an [`InflightBudget`]. Clones share the holding (the gRPC
/// body reader and the handler charge the same request).
#[derive(Debug, Clone)]
pub struct Reservation {
    budget: InflightBudget,
    held: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

impl Reservation {
    /// Bytes held now (a multiple of 1 KiB).
    pub fn held_bytes(&self) -> u64 {
        u64::from(self.held_permits()) * BYTES_PER_PERMIT
    }

    /// Makes the reservation hold at least `bytes` (clamped to the whole budget), waiting
    /// up to the budget's wait for room. Never shrinks. Fails with
    /// [`ReceiveError::Overloaded`] when the room does not come in time; what was held
    /// before stays held.
    pub async fn grow_to(&self, bytes: u64) -> Result<(), ReceiveError> {
        let needed = self.permits_needed(bytes);
        if needed == 0 {
            return Ok(());
        }
        let acquire = Arc::clone(&self.budget.semaphore).acquire_many_owned(needed);
        match tokio::time::timeout(self.budget.wait, acquire).await {
            Ok(Ok(permit)) => {
                self.add(permit);
                Ok(())
            }
            // The semaphore is never closed; treat it like a full budget all the same.
            Ok(Err(_)) | Err(_) => Err(self.budget.overloaded()),
        }
    }

    /// Like [`Reservation::grow_to`] without waiting: true when the reservation now holds
    /// `bytes` (clamped).
    pub fn try_grow_to(&self, bytes: u64) -> bool {
        let needed = self.permits_needed(bytes);
        if needed == 0 {
            return true;
        }
        match Arc::clone(&self.budget.semaphore).try_acquire_many_owned(needed) {
            Ok(permit) => {
                self.add(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// The budget this reservation draws from.
    pub fn budget(&self) -> &InflightBudget {
        &self.budget
    }

    fn permits_needed(&self, bytes: u64) -> u32 {
        let target = permits_for(bytes).min(self.budget.capacity_permits);
        target.saturating_sub(self.held_permits())
    }

    fn held_permits(&self) -> u32 {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.as_ref().map_or(0, |permit| {
            u32::try_from(permit.num_permits()).unwrap_or(u32::MAX)
        })
    }

    fn add(&self, permit: OwnedSemaphorePermit) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match held.as_mut() {
            Some(existing) => existing.merge(permit),
            None => *held = Some(permit),
        }
    }
}

/// KiB permits covering `bytes`, rounded up, saturating at `u32::MAX`.
fn permits_for(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(BYTES_PER_PERMIT)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn charges_are_given_back_when_the_reservation_is_dropped() {
        let budget = InflightBudget::new(10 * 1024, Duration::from_millis(10));
        let reservation = budget.reservation();
        reservation.grow_to(3000).await.expect("room");
        assert_eq!(reservation.held_bytes(), 3 * 1024);
        assert_eq!(budget.available_bytes(), 7 * 1024);
        reservation.grow_to(1000).await.expect("never shrinks");
        assert_eq!(reservation.held_bytes(), 3 * 1024);
        let shared = reservation.clone();
        drop(reservation);
        assert_eq!(budget.available_bytes(), 7 * 1024);
        drop(shared);
        assert_eq!(budget.available_bytes(), 10 * 1024);
    }

    #[tokio::test]
    async fn exhausted_budget_refuses_after_the_wait_with_a_retry_hint() {
        let budget = InflightBudget::new(4 * 1024, Duration::from_millis(20));
        let first = budget.reservation();
        first.grow_to(4 * 1024).await.expect("room");
        let second = budget.reservation();
        let started = std::time::Instant::now();
        let error = second.grow_to(1).await.expect_err("no room");
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(
            error,
            ReceiveError::Overloaded {
                limit_bytes: 4 * 1024,
                retry_after_seconds: 1
            }
        );
        assert_eq!(error.class().reason, "overloaded");
        assert!(!second.try_grow_to(1));
        assert_eq!(second.held_bytes(), 0);
    }

    #[tokio::test]
    async fn a_waiting_charge_is_admitted_when_room_is_given_back() {
        let budget = InflightBudget::new(4 * 1024, Duration::from_secs(5));
        let first = budget.reservation();
        first.grow_to(4 * 1024).await.expect("room");
        let second = budget.reservation();
        let waiting = tokio::spawn(async move { second.grow_to(2048).await.map(|()| second) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        let second = waiting.await.expect("task").expect("admitted");
        assert_eq!(second.held_bytes(), 2048);
    }

    #[tokio::test]
    async fn a_charge_larger_than_the_budget_is_clamped_to_it() {
        let budget = InflightBudget::new(8 * 1024, Duration::from_millis(10));
        let reservation = budget.reservation();
        reservation.grow_to(u64::MAX).await.expect("clamped");
        assert_eq!(reservation.held_bytes(), 8 * 1024);
        assert_eq!(budget.available_bytes(), 0);
    }
}
