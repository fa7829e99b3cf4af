//! `repro arxiv stub`: a paper becomes a crate of the suite that compiles and runs at once.
//!
//! The crate `papers/<slug>/` (package `repro-<slug>`) implements `repro_core::Paper` with no
//! experiments and no claims; `published.toml` holds the paper's metadata and a commented template
//! for its published numbers; README.md has the abstract, links and BibTeX. Three text edits
//! register it: the workspace members (root `Cargo.toml`), the harness's dependencies
//! (`harness/Cargo.toml`) and the registry (`harness/src/registry.rs`), each after a marker line
//! and kept sorted.
//!
//! Nothing is overwritten: an existing directory, crate name, registry entry or the same arXiv id
//! already in the suite is refused, and everything is checked before anything is written. The
//! crate directory is created exclusively; the three edits are each written atomically and undone
//! (with the crate directory) if a later one fails.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::bibtex;
use super::cache::write_atomic;
use super::entry::{Author, Entry};

/// Marker line in the root `Cargo.toml` `[workspace] members`.
pub const MEMBERS_MARKER: &str = "# papers (kept sorted; `repro arxiv stub` appends here)";
/// Marker line in `harness/Cargo.toml` `[dependencies]`.
pub const DEPS_MARKER: &str = "# papers (kept sorted; `repro arxiv stub` appends here)";
/// Marker line in `harness/src/registry.rs`.
pub const REGISTRY_MARKER: &str = "// papers (kept sorted; `repro arxiv stub` inserts here)";

/// Slugs that would clash with the suite's own crates (`repro-core`, `repro-harness`, `repro-suite`).
const RESERVED: &[&str] = &["core", "harness", "suite"];

/// What a stub writes, computed before anything is written.
#[derive(Debug, Clone)]
pub struct StubPlan {
    /// The paper's registry name and directory.
    pub slug: String,
    /// New files, relative to the workspace root, with their contents.
    pub files: Vec<(PathBuf, String)>,
    /// Edited files, relative to the workspace root: (path, current contents, new contents,
    /// the line inserted).
    pub edits: Vec<Edit>,
}

/// One registration edit.
#[derive(Debug, Clone)]
pub struct Edit {
    /// File, relative to the workspace root.
    pub path: PathBuf,
    /// Contents read when planning.
    pub before: String,
    /// Contents to write.
    pub after: String,
    /// The line inserted (for `--dry-run`).
    pub line: String,
}

/// A slug from a title: its first three lowercase ASCII words (leading articles dropped), joined
/// by `-` (`Attention Is All You Need` → `attention-is-all`); `arxiv-<id>` when the title has no
/// usable word.
pub fn derive_slug(entry: &Entry) -> String {
    let words = super::text::ascii_words(&entry.title);
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .skip_while(|w| matches!(*w, "a" | "an" | "the"))
        .take(3)
        .collect();
    let mut slug = String::new();
    for w in words {
        if slug.len() + 1 + w.len() > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(w);
    }
    if validate_slug(&slug).is_ok() {
        slug
    } else {
        format!("arxiv-{}", entry.id.base().replace(['.', '/'], "-"))
    }
}

/// Checks `^[a-z][a-z0-9-]{0,39}$`, no `--`, no trailing `-`, not a reserved name.
pub fn validate_slug(slug: &str) -> anyhow::Result<()> {
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let starts_with_letter = slug.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if !ok_chars
        || !starts_with_letter
        || slug.len() > 40
        || slug.contains("--")
        || slug.ends_with('-')
    {
        bail!(
            "invalid paper name `{slug}`: use 1-40 characters of a-z, 0-9 and single hyphens, starting with a \
             letter (e.g. `attention-is-all`)"
        );
    }
    if RESERVED.contains(&slug) {
        bail!("invalid paper name `{slug}`: `repro-{slug}` is one of the suite's own crates");
    }
    Ok(())
}

/// Plans a stub of `entry` in the workspace at `root`, refusing any clash.
pub fn plan(root: &Path, entry: &Entry, name: Option<&str>) -> anyhow::Result<StubPlan> {
    let slug = match name {
        Some(n) => n.trim().to_string(),
        None => derive_slug(entry),
    };
    validate_slug(&slug)?;
    let hint = if name.is_none() {
        " (choose another with --name)"
    } else {
        ""
    };
    let papers = root.join("papers");
    let dir = papers.join(&slug);
    if fs::symlink_metadata(&dir).is_ok() {
        bail!("papers/{slug} already exists{hint}; a stub never overwrites");
    }
    if let Some(existing) = find_arxiv_id(&papers, entry.id.base())? {
        bail!(
            "arXiv {} is already in the suite as papers/{existing}",
            entry.id.base()
        );
    }

    let crate_name = format!("repro-{slug}");
    let rust_name = crate_name.replace('-', "_");
    let members = insert_entry(
        root,
        "Cargo.toml",
        MEMBERS_MARKER,
        &format!("    \"papers/{slug}\","),
        |l| {
            l.strip_prefix('"')
                .and_then(|r| r.split('"').next())
                .filter(|p| p.starts_with("papers/"))
        },
    )?;
    let deps = insert_entry(
        root,
        "harness/Cargo.toml",
        DEPS_MARKER,
        &format!("{crate_name} = {{ path = \"../papers/{slug}\" }}"),
        |l| {
            l.starts_with("repro-")
                .then(|| l.split(['=', '.', ' ']).next().unwrap_or(l))
        },
    )?;
    let registry = insert_entry(
        root,
        "harness/src/registry.rs",
        REGISTRY_MARKER,
        &format!("        {rust_name}::paper(),"),
        |l| {
            l.starts_with("repro_")
                .then(|| l.split("::").next().unwrap_or(l))
        },
    )?;
    if members.before.contains(&format!("\"papers/{slug}\"")) {
        bail!("Cargo.toml already lists papers/{slug} as a workspace member{hint}");
    }
    for text in [&members.before, &deps.before] {
        if mentions_crate(text, &crate_name) {
            bail!("a crate named `{crate_name}` is already in the workspace{hint}");
        }
    }
    if registry.before.contains(&format!("{rust_name}::")) {
        bail!("`{rust_name}` is already in harness/src/registry.rs{hint}");
    }
    if let Some(other) = find_package_name(root, &crate_name)? {
        bail!("{other} already defines the package `{crate_name}`{hint}");
    }

    let base = PathBuf::from("papers").join(&slug);
    let files = vec![
        (base.join("Cargo.toml"), cargo_toml(&slug, entry)),
        (base.join("src/lib.rs"), lib_rs(&slug, entry)),
        (base.join("published.toml"), published_toml(entry)),
        (base.join("README.md"), readme(&slug, entry)),
    ];
    Ok(StubPlan {
        slug,
        files,
        edits: vec![members, deps, registry],
    })
}

/// Writes a plan: the crate directory (exclusively), then the three edits, undoing everything if
/// one step fails.
pub fn apply(root: &Path, plan: &StubPlan) -> anyhow::Result<()> {
    let dir = root.join("papers").join(&plan.slug);
    fs::create_dir(&dir)
        .with_context(|| format!("creating {} (a stub never overwrites)", dir.display()))?;
    let result = write_all(root, plan);
    if result.is_err() {
        let _ = fs::remove_dir_all(&dir);
    }
    result
}

fn write_all(root: &Path, plan: &StubPlan) -> anyhow::Result<()> {
    for (path, contents) in &plan.files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, contents.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut done: Vec<&Edit> = Vec::new();
    for edit in &plan.edits {
        let path = root.join(&edit.path);
        let step = (|| -> anyhow::Result<()> {
            let now =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            if now != edit.before {
                bail!(
                    "{} changed while the stub was being written; nothing was registered",
                    edit.path.display()
                );
            }
            write_atomic(&path, edit.after.as_bytes())?;
            Ok(())
        })();
        if let Err(e) = step {
            for undo in done.iter().rev() {
                let _ = write_atomic(&root.join(&undo.path), undo.before.as_bytes());
            }
            return Err(e);
        }
        done.push(edit);
    }
    Ok(())
}

/// Inserts `line` into the sorted block of entries that follows `marker` in `file`. `key` gives
/// the sort key of an entry line (trimmed) or `None` for a line that ends the block.
fn insert_entry(
    root: &Path,
    file: &str,
    marker: &str,
    line: &str,
    key: impl Fn(&str) -> Option<&str>,
) -> anyhow::Result<Edit> {
    let path = root.join(file);
    let before =
        fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let eol = if before.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let lines: Vec<&str> = before.lines().collect();
    let marker_at = lines.iter().position(|l| l.trim() == marker).with_context(|| {
        format!("{file} has no line `{marker}`, after which `repro arxiv stub` registers papers; add it back")
    })?;
    let new_key =
        key(line.trim()).with_context(|| format!("internal: no sort key for `{line}`"))?;
    let mut at = marker_at + 1;
    while at < lines.len() {
        match key(lines[at].trim()) {
            Some(k) if k == new_key => bail!("{file} already lists `{new_key}`"),
            Some(k) if k < new_key => at += 1,
            _ => break,
        }
    }
    // `at` is the first entry sorting after the new one, or the end of the block.
    let mut out = lines;
    out.insert(at, line);
    let mut after = out.join(eol);
    if before.ends_with('\n') {
        after.push_str(eol);
    }
    Ok(Edit {
        path: PathBuf::from(file),
        before,
        after,
        line: line.to_string(),
    })
}

/// True when a Cargo.toml text names `crate_name` as a dependency or member.
fn mentions_crate(text: &str, crate_name: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.strip_prefix(crate_name)
            .is_some_and(|rest| rest.starts_with([' ', '=', '.']))
            || l.contains(&format!("\"{crate_name}\""))
    })
}

/// The crate directory under `papers/` that already has `arxiv_id`, if any.
fn find_arxiv_id(papers: &Path, arxiv_id: &str) -> anyhow::Result<Option<String>> {
    let Ok(dirs) = fs::read_dir(papers) else {
        return Ok(None);
    };
    let needles = [
        format!("arxiv_id = \"{arxiv_id}\""),
        format!("arxiv_id: \"{arxiv_id}\""),
    ];
    for dir in dirs.flatten() {
        for file in ["published.toml", "src/lib.rs"] {
            if let Ok(text) = fs::read_to_string(dir.path().join(file))
                && needles.iter().any(|n| text.contains(n.as_str()))
            {
                return Ok(Some(dir.file_name().to_string_lossy().into_owned()));
            }
        }
    }
    Ok(None)
}

/// The Cargo.toml under `papers/` or `harness/` that defines package `crate_name`, if any.
fn find_package_name(root: &Path, crate_name: &str) -> anyhow::Result<Option<String>> {
    let mut manifests = vec![root.join("harness/Cargo.toml"), root.join("Cargo.toml")];
    if let Ok(dirs) = fs::read_dir(root.join("papers")) {
        manifests.extend(dirs.flatten().map(|d| d.path().join("Cargo.toml")));
    }
    let needle = format!("name = \"{crate_name}\"");
    for m in manifests {
        if fs::read_to_string(&m).is_ok_and(|t| t.lines().any(|l| l.trim() == needle)) {
            let shown = m.strip_prefix(root).unwrap_or(&m).display().to_string();
            return Ok(Some(shown));
        }
    }
    Ok(None)
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Markdown-safe text for a doc comment (rustdoc would read `[x]` as a link, `<x>` as HTML).
fn doc_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '[' | ']' | '<' | '>' | '`' | '\\' | '*' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn cargo_toml(slug: &str, entry: &Entry) -> String {
    let description = format!("{} (arXiv {}) — stub", entry.title, entry.id.base());
    format!(
        "[package]\n\
         name = \"repro-{slug}\"\n\
         description = {}\n\
         version.workspace = true\n\
         edition.workspace = true\n\
         rust-version.workspace = true\n\
         license.workspace = true\n\
         publish = false\n\
         \n\
         [dependencies]\n\
         repro-core.workspace = true\n\
         anyhow.workspace = true\n",
        toml_str(&description)
    )
}

fn lib_rs(slug: &str, entry: &Entry) -> String {
    let id = entry.id.base();
    format!(
        r#"//! {title} ({who}, {year}; arXiv {id}).
//!
//! Stub made by `repro arxiv stub`: fill `published.toml` from the paper's tables, then add
//! experiments and claims.
use repro_core::claims::Claim;
use repro_core::published::Published;
use repro_core::run::{{RunContext, RunOutput}};
use repro_core::{{ExperimentInfo, Paper, PaperInfo}};

/// This paper, as the suite's registry sees it.
pub fn paper() -> Box<dyn Paper> {{
    Box::new(ThisPaper)
}}

struct ThisPaper;

impl Paper for ThisPaper {{
    fn info(&self) -> PaperInfo {{
        PaperInfo {{
            id: {slug:?},
            arxiv_id: {id:?},
            title: {title_lit:?},
            authors: {authors:?},
            year: {year},
            datasets: vec![],
        }}
    }}

    fn published(&self) -> anyhow::Result<Published> {{
        Published::from_toml(include_str!("../published.toml"))
    }}

    fn experiments(&self) -> Vec<ExperimentInfo> {{
        Vec::new()
    }}

    fn claims(&self) -> Vec<Claim> {{
        Vec::new()
    }}

    fn run(&self, _ctx: &RunContext) -> anyhow::Result<RunOutput> {{
        Ok(RunOutput::default())
    }}
}}
"#,
        title = doc_text(&entry.title),
        who = doc_text(&entry.short_authors()),
        year = entry.year(),
        title_lit = entry.title,
        authors = entry.short_authors(),
    )
}

fn published_toml(entry: &Entry) -> String {
    let id = entry.id.base();
    let authors: Vec<String> = entry.authors.iter().map(|a| toml_str(&a.name)).collect();
    let version = entry
        .version()
        .map_or_else(|| "v1".to_string(), |v| format!("v{v}"));
    let title_comment = entry.title.replace(['\n', '\r'], " ");
    format!(
        "# Published numbers of \"{title_comment}\" (arXiv {id}). Add one [[result]] per number the suite reproduces.\n\
         [paper]\n\
         arxiv_id = {}\n\
         version = {}\n\
         title = {}\n\
         authors = [{}]\n\
         year = {}\n\
         {}\
         url = {}\n\
         # [[result]]\n\
         # key = \"table1.model.metric\"     # unique id of this number\n\
         # table = \"Table 1\"\n\
         # row = \"model name in the paper\"\n\
         # metric = \"BLEU\"\n\
         # dataset = \"newstest2014\"\n\
         # value = 0.0\n\
         # higher_is_better = true\n\
         # reproduced_by = \"experiment.metric\"   # the reproduced metric it is compared with\n\
         # notes = \"protocol details\"\n",
        toml_str(id),
        toml_str(&version),
        toml_str(&entry.title),
        authors.join(", "),
        entry.year(),
        entry
            .primary_category
            .as_deref()
            .map_or_else(String::new, |c| format!(
                "primary_category = {}\n",
                toml_str(c)
            )),
        toml_str(&entry.id.without_version().abs_url()),
    )
}

fn readme(slug: &str, entry: &Entry) -> String {
    let authors: Vec<String> = entry
        .authors
        .iter()
        .map(Author::with_affiliations)
        .collect();
    let base = entry.id.without_version();
    let mut links = vec![
        format!("[arXiv:{}]({})", base, base.abs_url()),
        format!("[PDF]({})", base.pdf_url()),
    ];
    if let Some(url) = entry.doi_url() {
        links.push(format!(
            "[DOI {}]({url})",
            entry.doi.as_deref().unwrap_or("")
        ));
    }
    let mut meta = Vec::new();
    if let Some(c) = &entry.primary_category {
        meta.push(format!(
            "Categories: {}",
            entry
                .categories
                .join(", ")
                .replacen(c, &format!("**{c}**"), 1)
        ));
    }
    if let Some(c) = &entry.comment {
        meta.push(format!("Comment: {c}"));
    }
    if let Some(j) = &entry.journal_ref {
        meta.push(format!("Journal reference: {j}"));
    }
    let version = entry
        .version()
        .map_or_else(String::new, |v| format!(" (v{v})"));
    format!(
        "# {title}\n\n\
         {authors} ({year})\n\n\
         {links}\n\n\
         {meta}\
         ## Abstract\n\n\
         {summary}\n\n\
         ## Status\n\n\
         A stub made by `repro arxiv stub` from arXiv {id}{version}: it builds and runs, with no experiments yet.\n\n\
         1. Fill `published.toml` with the numbers of the paper's tables that the suite will reproduce.\n\
         2. Add the model (`model.rs`), data (`data.rs`) and one function per table row (`experiments.rs`),\n   \
            and the paper's headline claims.\n\
         3. `make reproduce PAPER={slug}` runs them and compares with the published numbers.\n\n\
         ## Citation\n\n\
         ```bibtex\n{bibtex}```\n",
        title = entry.title,
        authors = authors.join(", "),
        year = entry.year(),
        links = links.join(" · "),
        meta = if meta.is_empty() {
            String::new()
        } else {
            format!("{}\n\n", meta.join("  \n"))
        },
        summary = entry.summary,
        id = base,
        bibtex = bibtex::to_bibtex(entry),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        for ok in ["attention", "attention-is-all", "gpt3", "a", "x-1"] {
            assert!(validate_slug(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Attention",
            "1x",
            "-x",
            "x-",
            "a--b",
            "a_b",
            "../x",
            "a/b",
            "core",
            "harness",
            &"x".repeat(41),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doc_text_escapes_markdown() {
        assert_eq!(doc_text("A [b] <c>"), r"A \[b\] \<c\>");
    }
}
