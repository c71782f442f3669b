//! Closed-loop simulation of adaptive sampling: simulated SDKs sample 20 operations whose
//! true rates span three orders of magnitude with the probabilities served as JSON, the
//! backend records the sampled root spans, and the calculator recomputes every minute.
//! After convergence each operation busier than the target is sampled at the target
//! (within 10%), and each quieter one is sampled entirely.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::time::Duration;
use weft_remote_sampling::{
    AdaptiveCalculator, AdaptiveOptions, DEFAULT_SAMPLING_PROBABILITY, SamplingProvider,
    Strategies, ThroughputBucket,
};

const SERVICE: &str = "checkout";
const INTERVAL_SECONDS: u64 = 60;
const INTERVALS: u64 = 120;
const MEASURED_INTERVALS: u64 = 40;
const TARGET_SAMPLES_PER_SECOND: f64 = 2.0;

/// 20 operations, 0.5 to 500 traces per second, evenly spread on a log scale.
fn true_rates() -> Vec<(String, f64)> {
    (0..20)
        .map(|index| {
            let rate = 0.5 * 1000f64.powf(f64::from(index) / 19.0);
            (format!("op-{index:02}"), rate)
        })
        .collect()
}

/// What an SDK does with the JSON body: with `operationSampling`, the operation's
/// probability if listed, else `defaultSamplingProbability`; without it, the service-wide
/// `probabilisticSampling`.
fn client_probabilities(body: &str) -> (f64, BTreeMap<String, f64>) {
    let json: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
    let Some(operations) = json.get("operationSampling") else {
        let probability = json["probabilisticSampling"]["samplingRate"]
            .as_f64()
            .expect("samplingRate");
        return (probability, BTreeMap::new());
    };
    let default = operations["defaultSamplingProbability"]
        .as_f64()
        .expect("defaultSamplingProbability");
    let listed = operations["perOperationStrategies"]
        .as_array()
        .expect("perOperationStrategies")
        .iter()
        .map(|strategy| {
            (
                strategy["operation"]
                    .as_str()
                    .expect("operation")
                    .to_owned(),
                strategy["probabilisticSampling"]["samplingRate"]
                    .as_f64()
                    .expect("samplingRate"),
            )
        })
        .collect();
    (default, listed)
}

struct Outcome {
    /// operation → (true rate, mean sampled traces per second over the measured intervals,
    /// final served probability).
    operations: BTreeMap<String, (f64, f64, f64)>,
}

struct Scenario {
    seed: u64,
    /// With more than one, every trace lands on a random replica; each replica hands its
    /// bucket through JSON (a store) to the leader, which merges and calculates.
    replicas: usize,
    /// Whether the SDK polls at a random moment of each interval, so that the traffic
    /// before it is sampled with the previous strategy (as real SDKs polling every minute
    /// do); the calculator then delays buckets by two intervals, Jaeger's default.
    polling_lag: bool,
}

/// Runs the loop for `INTERVALS` intervals.
fn simulate(scenario: Scenario) -> Outcome {
    let Scenario {
        seed,
        replicas,
        polling_lag,
    } = scenario;
    let options = AdaptiveOptions {
        target_samples_per_second: TARGET_SAMPLES_PER_SECOND,
        delta_tolerance: 0.1,
        calculation_interval: Duration::from_secs(INTERVAL_SECONDS),
        calculation_delay: if polling_lag {
            Duration::from_secs(2 * INTERVAL_SECONDS)
        } else {
            Duration::ZERO
        },
        ..AdaptiveOptions::default()
    };
    let mut replica_calculators: Vec<AdaptiveCalculator> = (0..replicas)
        .map(|_| AdaptiveCalculator::new(options.clone(), 0).expect("valid options"))
        .collect();
    let provider = SamplingProvider::new(
        Strategies::without_file(DEFAULT_SAMPLING_PROBABILITY),
        DEFAULT_SAMPLING_PROBABILITY,
    );
    let mut random = StdRng::seed_from_u64(seed);
    let rates = true_rates();
    let mut sampled_in_measured_intervals: BTreeMap<String, u64> = BTreeMap::new();

    let mut previous_body = provider.strategy_for(SERVICE).to_json();
    for interval in 0..INTERVALS {
        let body = provider.strategy_for(SERVICE).to_json();
        let (default_probability, listed) = client_probabilities(&body);
        let (previous_default_probability, previous_listed) = client_probabilities(&previous_body);
        let poll_fraction = if polling_lag {
            random.random::<f64>()
        } else {
            0.0
        };
        for (operation, rate) in &rates {
            let probability = listed
                .get(operation)
                .copied()
                .unwrap_or(default_probability);
            let previous_probability = previous_listed
                .get(operation)
                .copied()
                .unwrap_or(previous_default_probability);
            let traces = (rate * INTERVAL_SECONDS as f64).round() as u64;
            let traces_before_poll = (traces as f64 * poll_fraction).round() as u64;
            // replica → (sampled with the previous strategy, sampled with the current one)
            let mut sampled_per_replica = vec![(0u64, 0u64); replicas];
            for trace in 0..traces {
                let replica = random.random_range(0..replicas);
                let before_poll = trace < traces_before_poll;
                let used = if before_poll {
                    previous_probability
                } else {
                    probability
                };
                if random.random::<f64>() < used {
                    if before_poll {
                        sampled_per_replica[replica].0 += 1;
                    } else {
                        sampled_per_replica[replica].1 += 1;
                    }
                }
            }
            for (replica, (sampled_before, sampled_after)) in sampled_per_replica.iter().enumerate()
            {
                if traces_before_poll > 0 {
                    replica_calculators[replica].observe(
                        SERVICE,
                        operation,
                        *sampled_before,
                        previous_probability,
                    );
                }
                // A count of 0 still reports the operation (in real traffic the SDK's
                // lower-bound sampler provides such root spans).
                replica_calculators[replica].observe(
                    SERVICE,
                    operation,
                    *sampled_after,
                    probability,
                );
            }
            if interval >= INTERVALS - MEASURED_INTERVALS {
                *sampled_in_measured_intervals
                    .entry(operation.clone())
                    .or_default() += sampled_per_replica
                    .iter()
                    .map(|(before, after)| before + after)
                    .sum::<u64>();
            }
        }
        previous_body = body;
        let now_unix_millis = (interval + 1) * INTERVAL_SECONDS * 1000;
        let mut merged = ThroughputBucket::default();
        for calculator in &mut replica_calculators {
            let bucket = calculator.take_throughput(now_unix_millis);
            let stored = serde_json::to_string(&bucket).expect("serialises");
            let loaded: ThroughputBucket = serde_json::from_str(&stored).expect("deserialises");
            merged.merge(&loaded);
        }
        let leader = &mut replica_calculators[0];
        leader.add_throughput(merged);
        let calculated = leader.calculate(now_unix_millis);
        assert!(calculated || (polling_lag && interval < 2));
        provider.set_adaptive(Some(leader.probabilities()));
    }

    let final_body = provider.strategy_for(SERVICE).to_json();
    let (_, final_probabilities) = client_probabilities(&final_body);
    let measured_seconds = (MEASURED_INTERVALS * INTERVAL_SECONDS) as f64;
    Outcome {
        operations: rates
            .into_iter()
            .map(|(operation, rate)| {
                let sampled = sampled_in_measured_intervals[&operation] as f64;
                let probability = final_probabilities[&operation];
                (operation, (rate, sampled / measured_seconds, probability))
            })
            .collect(),
    }
}

fn check(outcome: &Outcome) {
    let mut report = String::new();
    let mut failures = Vec::new();
    for (operation, (rate, sampled_per_second, probability)) in &outcome.operations {
        report.push_str(&format!(
            "{operation}: true {rate:8.2}/s sampled {sampled_per_second:6.3}/s p {probability:.6}\n"
        ));
        if *rate > TARGET_SAMPLES_PER_SECOND {
            let deviation =
                (sampled_per_second - TARGET_SAMPLES_PER_SECOND).abs() / TARGET_SAMPLES_PER_SECOND;
            if deviation > 0.10 {
                failures.push(format!(
                    "{operation} is {:.1}% off target",
                    deviation * 100.0
                ));
            }
        } else {
            if *probability != 1.0 {
                failures.push(format!(
                    "{operation} below target has probability {probability}"
                ));
            }
            if (sampled_per_second - rate).abs() / rate > 0.10 {
                failures.push(format!("{operation} below target is not sampled entirely"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:?}\n{report}");
}

#[test]
fn converges_to_the_target_for_every_operation() {
    let outcome = simulate(Scenario {
        seed: 7,
        replicas: 1,
        polling_lag: false,
    });
    check(&outcome);
    // The busiest operation ends near target / rate, three orders of magnitude below the
    // quietest one's probability of 1.
    let (rate, _, probability) = outcome.operations["op-19"];
    assert!((probability * rate / TARGET_SAMPLES_PER_SECOND - 1.0).abs() < 0.25);
}

#[test]
fn converges_with_throughput_merged_from_three_replicas() {
    check(&simulate(Scenario {
        seed: 11,
        replicas: 3,
        polling_lag: false,
    }));
}

#[test]
fn converges_when_sdks_poll_late_and_buckets_are_delayed() {
    check(&simulate(Scenario {
        seed: 13,
        replicas: 2,
        polling_lag: true,
    }));
}
