use super::*;

#[test]
fn substitutes_parameters_and_names_unknown_ones() {
    let params = BTreeMap::from([("pattern".to_owned(), "TODO".to_owned())]);
    assert_eq!(
        substitute("find ${pattern}!", &params),
        Ok("find TODO!".to_owned())
    );
    assert_eq!(substitute("no params", &params), Ok("no params".to_owned()));
    let unknown = substitute("${colour}", &params).expect_err("unknown");
    assert!(
        unknown.contains("`${colour}` names no parameter"),
        "{unknown}"
    );
    assert!(substitute("${pattern", &params).is_err());
}

#[test]
fn locates_a_serde_path_in_its_step() {
    let steps: Vec<toml::Value> = vec![toml::Value::Table(toml::toml! { id = "scan" })];
    let (location, field) = locate("step[0].grants.tmeout", &steps);
    assert_eq!(location.to_string(), "step `scan` (#1): ");
    assert_eq!(field, "grants.tmeout");
    let (location, field) = locate("name", &steps);
    assert_eq!(location.to_string(), "");
    assert_eq!(field, "name");
}

#[test]
fn loads_a_pipeline_with_defaults_overrides_and_bundled_plugins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().join("ws");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&workspace).expect("mkdir");
    std::fs::create_dir_all(&state).expect("mkdir");
    let file = workspace.join("p.toml");
    std::fs::write(
        &file,
        r#"
        name = "audit"
        [params]
        pattern = "TODO"
        depth = 3
        [[step]]
        id = "scan"
        plugin = "file-stats"
        params = { pattern = "${pattern}", nested = ["${depth}"] }
        grants = { read = ["."], timeout = "5s" }
        "#,
    )
    .expect("write");
    let catalog = Catalog::new(state.join("plugins"));
    let overrides = [("pattern".to_owned(), "FIXME".to_owned())];
    let plan = Plan::load(
        &file,
        &LoadOptions {
            workspace: &workspace,
            state_dir: &state.canonicalize().expect("state"),
            params: &overrides,
            catalog: &catalog,
        },
    )
    .expect("valid pipeline");
    assert_eq!(plan.name, "audit");
    let step = &plan.steps[0];
    assert_eq!(
        step.grants.limits.timeout,
        std::time::Duration::from_secs(5)
    );
    match &step.kind {
        StepKind::Plugin { params, component } => {
            assert_eq!(
                params,
                &serde_json::json!({ "pattern": "FIXME", "nested": ["3"] })
            );
            assert_eq!(component.origin, crate::catalog::Origin::Bundled);
        }
        other => panic!("expected a plugin step, got {other:?}"),
    }
}
