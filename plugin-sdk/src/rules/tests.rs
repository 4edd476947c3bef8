//! One test per rule, and one per record's set of rules.

use super::*;

fn labels(n: usize) -> Vec<(String, String)> {
    (0..n).map(|i| (format!("l{i}"), "x".to_string())).collect()
}

fn message(r: Result<(), OutputError>) -> String {
    r.expect_err("refused").to_string()
}

#[test]
fn names_are_snake_case_ascii_up_to_the_limit() {
    assert!(is_name("peers_low_2"));
    assert!(is_name(&"a".repeat(MAX_NAME_BYTES)));
    for bad in ["", "PeersLow", "peers-low", "peers low", "pérs"] {
        assert!(!is_name(bad), "{bad:?}");
    }
    assert!(!is_name(&"a".repeat(MAX_NAME_BYTES + 1)));
    assert_eq!(
        message(check_name("alert", "Peers")),
        "alert name \"Peers\" must be snake_case ASCII, 1-128 chars"
    );
}

#[test]
fn labels_are_counted_and_their_names_checked() {
    let alert = || Record::Alert("a".into());
    assert_eq!(check_labels(&labels(MAX_LABELS), alert), Ok(()));
    assert_eq!(
        message(check_labels(&labels(MAX_LABELS + 1), alert)),
        "alert a: 17 labels, the limit is 16"
    );
    let bad = vec![("Node".to_string(), "bn-1".to_string())];
    assert_eq!(
        message(check_labels(&bad, alert)),
        "alert a: label name \"Node\" must be snake_case ASCII"
    );
}

#[test]
fn the_record_is_named_only_on_a_refusal() {
    let never = || -> Record { panic!("named on success") };
    assert_eq!(check_labels(&labels(1), never), Ok(()));
    assert_eq!(check_finite("value", 1.0, never), Ok(()));
    assert_eq!(check_columns(&[1], &[1.0], never), Ok(()));
    assert_eq!(check_scores_in_range(&[0.0, 100.0], never), Ok(()));
}

#[test]
fn numbers_must_be_finite() {
    let series = || Record::Series("s".into());
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(check_finite("value", bad, series).is_err(), "{bad}");
    }
    assert_eq!(
        message(check_finite("value", f64::NAN, series)),
        "series s: value NaN is not finite"
    );
}

#[test]
fn columns_must_have_equal_lengths() {
    let scores = || Record::Scores {
        component: "c".into(),
        window: "1d".into(),
    };
    assert_eq!(
        message(check_columns(&[1, 2], &[1.0], scores)),
        "scores c/1d: 2 validators but 1 values"
    );
}

#[test]
fn scores_must_lie_in_0_to_100() {
    let score = || Record::SubjectScore {
        component: "c".into(),
        window: "1d".into(),
    };
    for bad in [-0.1, 100.5, f64::NAN] {
        assert!(check_scores_in_range(&[50.0, bad], score).is_err(), "{bad}");
    }
    assert_eq!(
        message(check_scores_in_range(&[250.0], score)),
        "score c/1d: value 250 is outside 0..100"
    );
}

#[test]
fn an_alert_needs_a_name_subject_labels_and_finite_numbers() {
    assert_eq!(validate_alert("a", &labels(2), Some(1.0), None), Ok(()));
    assert!(message(validate_alert("A", &[], None, None)).contains("snake_case"));
    assert!(message(validate_alert("a", &labels(17), None, None)).contains("17 labels"));
    assert_eq!(
        message(validate_alert("a", &[], Some(1.0), Some(f64::INFINITY))),
        "alert a: threshold inf is not finite"
    );
}

#[test]
fn a_scores_column_needs_equal_lengths_and_scores_in_range() {
    assert_eq!(validate_scores("c", "1d", &[1, 2], &[0.0, 100.0]), Ok(()));
    assert!(message(validate_scores("c", "1d", &[1], &[])).contains("1 validators"));
    assert_eq!(
        message(validate_scores("attestation", "1d", &[1], &[250.0])),
        "scores attestation/1d: value 250 is outside 0..100"
    );
}

#[test]
fn a_subject_score_needs_labels_and_a_score_in_range() {
    assert_eq!(validate_subject_score("c", "1d", &labels(1), 1.0), Ok(()));
    assert!(message(validate_subject_score("c", "1d", &labels(17), 1.0)).contains("17 labels"));
    assert!(message(validate_subject_score("c", "1d", &[], -1.0)).contains("outside 0..100"));
}

#[test]
fn a_series_point_needs_a_name_labels_and_a_finite_value() {
    assert_eq!(validate_series_point("s", &labels(1), 1.0), Ok(()));
    assert!(message(validate_series_point("S", &[], 1.0)).contains("series name"));
    assert!(message(validate_series_point("s", &labels(17), 1.0)).contains("17 labels"));
    assert!(message(validate_series_point("s", &[], f64::NAN)).contains("not finite"));
}

#[test]
fn a_validator_series_leaves_the_validator_label_to_the_host() {
    let ok = validate_validator_series("v", &labels(MAX_LABELS - 1), &[1], &[1.0]);
    assert_eq!(ok, Ok(()));
    assert_eq!(
        message(validate_validator_series(
            "v",
            &labels(MAX_LABELS),
            &[1],
            &[1.0]
        )),
        "validator series v: 16 shared labels plus \"validator\", the limit is 16"
    );
    let shared = vec![("validator".to_string(), "1".to_string())];
    assert!(
        message(validate_validator_series("v", &shared, &[1], &[1.0]))
            .contains("added per point by the host")
    );
    assert_eq!(
        message(validate_validator_series(
            "v",
            &[],
            &[1, 2],
            &[1.0, f64::NAN]
        )),
        "validator series v: value NaN is not finite"
    );
    assert!(message(validate_validator_series("v", &[], &[1], &[])).contains("1 validators"));
}

#[test]
fn validator_series_points_are_capped_per_output() {
    assert_eq!(
        validate_validator_series_points(MAX_VALIDATOR_SERIES_POINTS),
        Ok(())
    );
    assert!(
        message(validate_validator_series_points(
            MAX_VALIDATOR_SERIES_POINTS + 1
        ))
        .starts_with("1000001 per-validator series points")
    );
}

#[test]
fn a_check_needs_a_name_and_valid_subject_labels() {
    assert_eq!(validate_check("disk", &labels(1)), Ok(()));
    assert_eq!(
        message(validate_check("", &[])),
        "a check has an empty name"
    );
    assert!(message(validate_check("disk", &labels(17))).starts_with("check disk: 17 labels"));
}

#[test]
fn a_recommendation_action_id_is_a_name() {
    assert_eq!(
        validate_recommendation("Prune", &labels(1), Some("prune_geth")),
        Ok(())
    );
    assert_eq!(validate_recommendation("Prune", &[], None), Ok(()));
    assert_eq!(
        message(validate_recommendation("Prune", &[], Some("rm -rf /"))),
        "recommendation \"Prune\": action id \"rm -rf /\" must be snake_case ASCII"
    );
    assert!(
        message(validate_recommendation("Prune", &labels(17), None))
            .starts_with("recommendation \"Prune\": 17 labels")
    );
}
