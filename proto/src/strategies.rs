//! proptest strategies for the model, shared by every crate's property tests (feature
//! `proptest`; never in a production build).

use proptest::prelude::*;

use crate::model::{Quality, Sample};

/// Any quality.
pub fn quality() -> impl Strategy<Value = Quality> {
    prop_oneof![
        Just(Quality::Unknown),
        Just(Quality::None),
        Just(Quality::Poor),
        Just(Quality::Fair),
        Just(Quality::Good)
    ]
}

/// A sample as a device might send it: any raw value (mostly plausible heart rates, some
/// zeros, some beyond every limit), any quality, with or without a movement mark. Not
/// necessarily valid on the wire.
pub fn any_sample() -> impl Strategy<Value = Sample> {
    (
        proptest::array::uniform5(prop_oneof![
            Just(0u16),
            0u16..=1200,
            500u16..=640,
            any::<u16>()
        ]),
        proptest::array::uniform5(quality()),
        any::<bool>(),
    )
        .prop_map(|(values, quality, fetal_movement)| Sample {
            values,
            quality,
            fetal_movement,
        })
}

/// Up to `max_runs` runs of one repeated sample, each up to `max_len` long, as a monitor holds
/// a value: stretches look like signal, and the runs change between them.
pub fn sample_runs(max_runs: usize, max_len: usize) -> impl Strategy<Value = Vec<Sample>> {
    proptest::collection::vec((any_sample(), 1..=max_len), 0..=max_runs).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(s, n)| std::iter::repeat_n(s, n))
            .collect()
    })
}
