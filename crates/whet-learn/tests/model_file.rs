//! Model files: save -> load gives identical predictions; damage is reported, never a panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, StringArray};
use whet_data::Task;
use whet_data::prep::{Prep, PrepOptions};
use whet_data::reference::{Distribution, ReferenceProfile};
use whet_data::table::{Table, ValueType};
use whet_learn::binning::BinnedData;
use whet_learn::data::TrainSet;
use whet_learn::gbdt::GbdtParams;
use whet_learn::gbdt::fit_gbdt;
use whet_learn::model::{FORMAT_VERSION, Metadata, Model, Predictor};

fn table() -> Table {
    let n = 500;
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| {
            if i % 17 == 0 {
                None
            } else {
                Some((i * 37 % 101) as f64)
            }
        })
        .collect();
    let c: Vec<&str> = (0..n).map(|i| ["a", "b", "c", "d"][i % 4]).collect();
    let y: Vec<&str> = (0..n)
        .map(|i| {
            if (i * 37 % 101) > 50 || i % 4 == 1 {
                "yes"
            } else {
                "no"
            }
        })
        .collect();
    let cols: Vec<(&str, ValueType, ArrayRef)> = vec![
        ("x", ValueType::Float, Arc::new(Float64Array::from(x))),
        ("c", ValueType::String, Arc::new(StringArray::from(c))),
        ("y", ValueType::String, Arc::new(StringArray::from(y))),
    ];
    Table::from_columns(cols).unwrap()
}

fn model() -> Model {
    model_of(&table(), &PrepOptions::default())
}

/// A 20-round GBDT of binary target `y` on table `t`, prepared with `options`.
fn model_of(t: &Table, options: &PrepOptions) -> Model {
    let prep = Prep::fit(t, Some(("y", Task::Binary)), options).unwrap();
    let x = prep.transform(t).unwrap().features;
    let y = prep.transform_target(t).unwrap();
    let binned = BinnedData::fit(&x, 255).unwrap();
    let set = TrainSet {
        x: &x,
        y: &y,
        weight: None,
        rows: None,
        task: Task::Binary,
        n_classes: 2,
    };
    let m = fit_gbdt(
        &set,
        &binned,
        None,
        &GbdtParams {
            num_iterations: 20,
            ..GbdtParams::default()
        },
    )
    .unwrap();
    let reference = ReferenceProfile::build(t, &prep).unwrap();
    Model {
        reference,
        prep,
        predictor: Predictor::Gbdt(Box::new(m)),
        metadata: Metadata {
            whet_version: "test".into(),
            task: Task::Binary,
            target: "y".into(),
            classes: vec!["no".into(), "yes".into()],
            params: BTreeMap::new(),
            train_rows: 500,
            seed: 0,
            fit_seconds: 0.0,
            metrics: BTreeMap::new(),
        },
    }
}

#[test]
fn save_load_gives_identical_predictions() {
    let m = model();
    let bytes = m.to_bytes().unwrap();
    let back = Model::from_bytes(&bytes, "m.whet").unwrap();
    assert_eq!(back, m);
    let t = table();
    let x = back.prep.transform(&t).unwrap().features;
    let a = m.predictor.predict(&x);
    let b = back.predictor.predict(&x);
    assert_eq!(a.values, b.values);
    // Encoding is deterministic: the same model gives the same bytes.
    assert_eq!(bytes, back.to_bytes().unwrap());
}

#[test]
fn damaged_truncated_and_newer_files_are_rejected() {
    let bytes = model().to_bytes().unwrap();
    let err = |b: &[u8]| Model::from_bytes(b, "m.whet").unwrap_err().to_string();

    assert!(err(b"hello world, not a model").contains("not a whet model file"));
    assert!(err(&[]).contains("not a whet model file"));
    assert!(err(&bytes[..20]).contains("truncated"));
    assert!(err(&bytes[..bytes.len() - 10]).contains("truncated"));

    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    assert!(err(&flipped).contains("checksum"));

    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = err(&newer);
    assert!(e.contains("newer") && e.contains("upgrade"), "{e}");

    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    assert!(err(&longer).contains("unexpected bytes"));
}

/// FNV-1a, as the model header's checksum.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[test]
fn files_are_compressed_and_format_1_files_still_load() {
    let m = model();
    let encoded = m.encoded().unwrap();
    let file = m.to_bytes().unwrap();
    assert_eq!(FORMAT_VERSION, 5);
    // Without a log-target part a model is still written as format 3.
    assert_eq!(u32::from_le_bytes(file[8..12].try_into().unwrap()), 3);
    // This model's file is 52% of its encoding (under half before its categorical feature
    // was split as LightGBM does, which gave the trees more distinct leaf values).
    assert!(
        file.len() * 10 < encoded.len() * 6,
        "compressed {} vs encoded {}",
        file.len(),
        encoded.len()
    );
    assert_eq!(Model::from_bytes(&file, "v3").unwrap(), m);
    // A format 1 file: the MessagePack itself after the header.
    let mut v1 = Vec::new();
    v1.extend_from_slice(b"WHETMDL\0");
    v1.extend_from_slice(&1u32.to_le_bytes());
    v1.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    v1.extend_from_slice(&fnv(&encoded).to_le_bytes());
    v1.extend_from_slice(&encoded);
    assert_eq!(Model::from_bytes(&v1, "v1").unwrap(), m);
    // A payload whose checksum matches but whose claimed size is absurd is refused, not
    // allocated.
    let mut bomb = Vec::new();
    bomb.extend_from_slice(&u64::MAX.to_le_bytes());
    bomb.extend_from_slice(&file[28 + 8..]);
    let mut damaged = file[..12].to_vec();
    damaged.extend_from_slice(&(bomb.len() as u64).to_le_bytes());
    damaged.extend_from_slice(&fnv(&bomb).to_le_bytes());
    damaged.extend_from_slice(&bomb);
    let e = Model::from_bytes(&damaged, "bomb").unwrap_err().to_string();
    assert!(e.contains("uncompressed"), "{e}");
}

/// A format-3 file around `payload` (claimed uncompressed size, then zstd), checksum intact.
fn wrap_v3(payload: &[u8]) -> Vec<u8> {
    let mut file = b"WHETMDL\0".to_vec();
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&fnv(payload).to_le_bytes());
    file.extend_from_slice(payload);
    file
}

#[test]
fn a_decompression_bomb_is_refused_before_it_is_decompressed() {
    // 64 MiB of zeros compress to a few kilobytes: an honest claim, but far past any model's
    // ratio. The loader must refuse it from the header, not allocate and inflate it.
    let inflated = 64usize << 20;
    let compressed = zstd::bulk::compress(&vec![0u8; inflated], 19).unwrap();
    assert!(compressed.len() * 1000 < inflated, "{}", compressed.len());
    let mut payload = (inflated as u64).to_le_bytes().to_vec();
    payload.extend_from_slice(&compressed);
    let e = Model::from_bytes(&wrap_v3(&payload), "bomb.whet")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "claims {inflated} bytes uncompressed from {}",
            compressed.len()
        )) && e.contains("1000 times"),
        "{e}"
    );

    // A claim under the bound that the data then exceeds stops at the claim.
    let m = model();
    let encoded = m.encoded().unwrap();
    let compressed = zstd::bulk::compress(&encoded, 3).unwrap();
    let mut short = ((encoded.len() / 2) as u64).to_le_bytes().to_vec();
    short.extend_from_slice(&compressed);
    let e = Model::from_bytes(&wrap_v3(&short), "short.whet")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot decompress"), "{e}");

    // Every real model is far inside the bound, which the writer checks as well.
    let file = m.to_bytes().unwrap();
    assert_eq!(Model::from_bytes(&file, "ok.whet").unwrap(), m);
}

#[test]
fn format_2_files_load_with_an_empty_reference_profile() {
    let m = model();
    assert!(!m.reference.is_empty());
    // Format 2: format 3's layout, the model without its reference profile.
    #[derive(serde::Serialize)]
    struct Format2<'a> {
        prep: &'a Prep,
        predictor: &'a Predictor,
        metadata: &'a Metadata,
    }
    let encoded = rmp_serde::to_vec_named(&Format2 {
        prep: &m.prep,
        predictor: &m.predictor,
        metadata: &m.metadata,
    })
    .unwrap();
    let mut payload = (encoded.len() as u64).to_le_bytes().to_vec();
    payload.extend_from_slice(&zstd::bulk::compress(&encoded, 3).unwrap());
    let mut v2 = Vec::new();
    v2.extend_from_slice(b"WHETMDL\0");
    v2.extend_from_slice(&2u32.to_le_bytes());
    v2.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    v2.extend_from_slice(&fnv(&payload).to_le_bytes());
    v2.extend_from_slice(&payload);
    let back = Model::from_bytes(&v2, "v2").unwrap();
    assert!(back.reference.is_empty());
    assert_eq!(back.prep, m.prep);
    assert_eq!(back.predictor, m.predictor);
}

#[test]
fn the_reference_profile_describes_the_training_columns() {
    let m = model();
    let r = &m.reference;
    assert_eq!(r.rows, 500);
    let x = r.column("x").unwrap();
    // Rows 0, 17, ..., 493 are missing: 30 of 500.
    assert_eq!(x.missing, 30);
    let Distribution::Numeric(num) = &x.distribution else {
        panic!("x is numeric")
    };
    assert_eq!(num.counts.iter().sum::<u64>(), 470);
    assert_eq!(num.counts.len(), num.edges.len() + 1);
    assert!(num.edges.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((num.min, num.max), (0.0, 100.0));
    let c = r.column("c").unwrap();
    let Distribution::Categorical(cat) = &c.distribution else {
        panic!("c is categorical")
    };
    assert_eq!(
        cat.levels,
        vec![
            ("a".to_string(), 125),
            ("b".to_string(), 125),
            ("c".to_string(), 125),
            ("d".to_string(), 125)
        ]
    );
    assert_eq!((cat.other_count, c.missing), (0, 0));
    let target = r.target.as_ref().unwrap();
    assert_eq!(target.name, "y");
}

#[test]
fn a_log_target_model_is_written_as_format_4_and_predicts_in_the_targets_units() {
    let plain = model();
    let mut m = plain.clone();
    m.predictor = Predictor::log_target(plain.predictor.clone(), 1.25);
    let file = m.to_bytes().unwrap();
    assert_eq!(u32::from_le_bytes(file[8..12].try_into().unwrap()), 4);
    let back = Model::from_bytes(&file, "log.whet").unwrap();
    assert_eq!(back, m);
    let x = back.prep.transform(&table()).unwrap().features;
    let inner = plain.predictor.predict(&x);
    let outer = back.predictor.predict(&x);
    assert_eq!(outer.n_rows, inner.n_rows);
    for (o, i) in outer.values.iter().zip(&inner.values) {
        assert_eq!(*o, 1.25 * i.exp() - 1.0);
    }
    // Inside an ensemble the part still asks for format 4.
    m.predictor = Predictor::Ensemble(whet_learn::model::EnsembleModel {
        members: vec![whet_learn::model::EnsembleMember {
            weight: 1.0,
            label: "log".into(),
            predictor: Predictor::log_target(plain.predictor.clone(), 1.0),
        }],
        clip: None,
    });
    assert_eq!(m.format_version(), 4);
}

#[test]
fn nested_predictors_read_back_and_a_model_map_must_start_with_its_learner() {
    use whet_learn::model::{EnsembleMember, EnsembleModel};
    // An ensemble holding a model of ln(1 + y) around a GBDT: every level is read by the
    // tag-first reader (model files and workers' results are MessagePack).
    let Predictor::Gbdt(gbdt) = model().predictor else {
        unreachable!()
    };
    let nested = Predictor::Ensemble(EnsembleModel {
        members: vec![
            EnsembleMember {
                weight: 0.25,
                label: "log".into(),
                predictor: Predictor::LogTarget(whet_learn::model::LogTargetModel {
                    inner: Box::new(Predictor::Gbdt(gbdt.clone())),
                    scale: 1.5,
                }),
            },
            EnsembleMember {
                weight: 0.75,
                label: "plain".into(),
                predictor: Predictor::Gbdt(gbdt),
            },
        ],
        clip: Some([0.0, 10.0]),
    });
    let packed = rmp_serde::to_vec_named(&nested).unwrap();
    let back: Predictor = rmp_serde::from_slice(&packed).unwrap();
    assert_eq!(back, nested);

    // Serde writes the tag first; a map that does not start with it is refused by name.
    let err = serde_json::from_str::<Predictor>(r#"{"members":[],"learner":"ensemble"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(r#"first entry must be "learner", found "members""#),
        "{err}"
    );
    let err = serde_json::from_str::<Predictor>(r#"{"learner":"forest"}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `forest`"), "{err}");
}

#[test]
fn a_model_splitting_a_categorical_of_more_than_255_levels_is_format_5_and_round_trips() {
    // 400 zip codes, each its own bin (two bytes wide); half of them mostly "yes".
    let n = 8000;
    let zips: Vec<String> = (0..n)
        .map(|i| format!("z{:03}", (i * 7919) % 400))
        .collect();
    let y: Vec<&str> = (0..n)
        .map(|i| {
            let zip = (i * 7919) % 400;
            if (zip * 31 % 400 < 200) != (i % 10 == 0) {
                "yes"
            } else {
                "no"
            }
        })
        .collect();
    let cols: Vec<(&str, ValueType, ArrayRef)> = vec![
        (
            "zip",
            ValueType::String,
            Arc::new(StringArray::from(
                zips.iter().map(String::as_str).collect::<Vec<_>>(),
            )),
        ),
        ("y", ValueType::String, Arc::new(StringArray::from(y))),
    ];
    let t = Table::from_columns(cols).unwrap();
    let m = model_of(
        &t,
        &whet_learn::binning::keeping_every_level(PrepOptions::default()),
    );
    let x = m.prep.transform(&t).unwrap().features;
    assert!(BinnedData::fit(&x, 255).unwrap().mappers()[0].is_wide());
    assert!(m.predictor.has_wide_category_sets());
    let file = m.to_bytes().unwrap();
    assert_eq!(u32::from_le_bytes(file[8..12].try_into().unwrap()), 5);
    let back = Model::from_bytes(&file, "zip.whet").unwrap();
    assert_eq!(back, m);
    let x = back.prep.transform(&t).unwrap().features;
    assert_eq!(
        back.predictor.predict(&x).values,
        m.predictor.predict(&x).values
    );
    // Without such a split the same kind of model stays format 3.
    assert!(!model().predictor.has_wide_category_sets());
}
