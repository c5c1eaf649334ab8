pub fn run_app(_a: crate::cli::ModelImageArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
