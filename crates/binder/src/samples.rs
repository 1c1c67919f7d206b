//! The sample APIs a daemon binary brings (`bins/afb-daemon` links the
//! `hello`, `tictactoe` and `auth` samples behind its `samples` cargo
//! feature): served when no option gives an API, or with `--samples`,
//! together with their web files (served beside the built-in pages).

use afb_sdk::ApiBuilder;

/// Sample APIs and their web files, handed to [`crate::main`].
#[derive(Default)]
pub struct Samples {
    apis: Vec<ApiBuilder>,
    files: Vec<(&'static str, &'static [u8])>,
}

impl Samples {
    /// No sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample API.
    pub fn api(mut self, api: ApiBuilder) -> Self {
        self.apis.push(api);
        self
    }

    /// Adds web files, (name, content): served under `/devtools/NAME`
    /// (and `/NAME` without `--roothttp`) while the samples are served.
    pub fn files(mut self, files: &[(&'static str, &'static [u8])]) -> Self {
        self.files.extend_from_slice(files);
        self
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
    }

    /// The samples' API names, `, `-separated.
    pub fn names(&self) -> String {
        self.apis.iter().map(ApiBuilder::name).collect::<Vec<_>>().join(", ")
    }

    pub(crate) fn into_parts(self) -> (Vec<ApiBuilder>, Vec<(&'static str, &'static [u8])>) {
        (self.apis, self.files)
    }
}
