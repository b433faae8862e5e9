//! `strata tour`: build a stack step by step and show what each layer does.

pub async fn run(_trace: bool) -> super::Result {
    Err("the tour is not written yet".into())
}
