//! `repro arxiv …`: the commands, their flags and their output.
//!
//! Results go to `out` (plain text, `--json` or `--bibtex`), status and progress to `err`.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use clap::{Args, Subcommand};

use super::cache::{self, Cache};
use super::client::{self, Client, ClientConfig, SearchRequest, SortBy, SortOrder};
use super::error::Error;
use super::id::ArxivId;
use super::render;
use super::stub;
use super::track::{self, FeedState, TrackedQuery, TrackingState};

const ARXIV_AFTER_HELP: &str = "\
Examples:
  repro arxiv show 1706.03762                 title, authors, abstract, links
  repro arxiv show arXiv:1810.04805 --bibtex  BibTeX in arXiv's export format
  repro arxiv search 'ti:\"language models\" AND cat:cs.CL' --max 20 --sort submitted
  repro arxiv track                           what is new for the tracked queries
  repro arxiv stub 2005.14165 --name gpt3     a paper crate that builds and runs at once

arXiv's terms are kept: one request every 3 s over one connection. Id look-ups are cached
(REPRO_CACHE, default the platform cache dir) for 24 h. REPRO_ARXIV_API points the client at
another endpoint (a mirror, or a local server in tests).";

/// Follow arXiv: show papers, search, track new ones, turn one into a paper crate.
#[derive(Debug, Args)]
#[command(after_help = ARXIV_AFTER_HELP)]
pub struct ArxivArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ArxivCommand,
    /// Network and cache settings, shared by every subcommand.
    #[command(flatten, next_help_heading = "Network and cache")]
    pub net: NetArgs,
}

/// Settings of the arXiv client.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// The query API endpoint.
    #[arg(long, global = true, env = "REPRO_ARXIV_API", value_name = "URL", default_value = client::DEFAULT_API_URL)]
    pub api_url: String,
    /// The daily feed service (`track --feed`).
    #[arg(long, global = true, env = "REPRO_ARXIV_RSS", value_name = "URL", default_value = client::DEFAULT_RSS_URL)]
    pub rss_url: String,
    /// Neither read nor write the response cache.
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Cache directory [default: $REPRO_CACHE/arxiv, else the platform cache dir's repro/arxiv].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// How long a cached response stays fresh, in hours.
    #[arg(long, global = true, value_name = "HOURS", default_value_t = 24.0)]
    pub cache_ttl: f64,
    /// Least seconds between requests; below 3 only for endpoints other than arxiv.org.
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        default_value_t = 3.0,
        hide_short_help = true
    )]
    pub request_interval: f64,
}

/// The `repro arxiv` subcommands.
#[derive(Debug, Subcommand)]
pub enum ArxivCommand {
    /// Show papers: title, authors, abstract, categories, dates, links.
    Show(ShowArgs),
    /// Search arXiv with the API's query syntax.
    Search(SearchArgs),
    /// List papers new since the last check for the tracked queries, then record them.
    Track(TrackArgs),
    /// Turn a paper into a crate of the suite that builds and runs at once.
    Stub(StubArgs),
}

/// `repro arxiv show`.
#[derive(Debug, Args)]
#[command(after_help = "\
Ids: 1706.03762, 1706.03762v5 (that version), arXiv:1706.03762, https://arxiv.org/abs/1706.03762,
https://arxiv.org/pdf/1706.03762v5, old-style hep-th/9901001.

Examples:
  repro arxiv show 1706.03762 1810.04805
  repro arxiv show https://arxiv.org/pdf/2005.14165 --json | jq .[0].authors
  repro arxiv show 1706.03762 --bibtex >> refs.bib")]
pub struct ShowArgs {
    /// arXiv ids or abs/pdf URLs.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Print JSON (an array of papers).
    #[arg(long, conflicts_with = "bibtex")]
    pub json: bool,
    /// Print BibTeX in arXiv's export format.
    #[arg(long)]
    pub bibtex: bool,
}

/// `repro arxiv search`.
#[derive(Debug, Args)]
#[command(after_help = "\
Query syntax (the arXiv API's): fields ti: (title), au: (author), abs: (abstract), cat:
(category), co: (comment), jr: (journal ref), all: (every field); AND, OR, ANDNOT; parentheses;
\"quoted phrases\". Plain words and phrases are each searched in every field (ANDed).

Examples:
  repro arxiv search 'ti:transformer AND abs:\"machine translation\"' --category cs.CL
  repro arxiv search 'au:vaswani' --sort submitted --max 50
  repro arxiv search 'all:\"in-context learning\"' --category cs.CL --category cs.LG --json")]
pub struct SearchArgs {
    /// The query.
    pub query: String,
    /// Restrict to a category (`cs.CL`); repeat for several (ORed).
    #[arg(long, short = 'c', value_name = "CAT")]
    pub category: Vec<String>,
    /// Most results to fetch (paged, 100 per request).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10)]
    pub max: usize,
    /// Order of results.
    #[arg(long, value_enum, default_value_t = SortBy::Relevance)]
    pub sort: SortBy,
    /// Direction of the order.
    #[arg(long, value_enum, default_value_t = SortOrder::Descending)]
    pub order: SortOrder,
    /// Print JSON (`{query, total_results, entries}`).
    #[arg(long, conflicts_with = "bibtex")]
    pub json: bool,
    /// Print BibTeX of every result.
    #[arg(long)]
    pub bibtex: bool,
}

/// `repro arxiv track`.
#[derive(Debug, Args)]
#[command(after_help = "\
The state lives in papers/tracking.toml (committed): tracked queries, their categories, the ids
already reported and the last check. A paper is new if its id (without version) was never
reported, an update if a higher version appears. Each check looks back to the last check less a
week (announcements lag submissions), or to --since.

Examples:
  repro arxiv track                                   check every tracked query, record findings
  repro arxiv track --dry-run --since 2024-06-01      look without recording
  repro arxiv track --add 'ti:\"state space model\"' --category cs.CL --category cs.LG
  repro arxiv track --list
  repro arxiv track --remove 2
  repro arxiv track --feed --category cs.CL           today's announcements (new/cross/replace)")]
pub struct TrackArgs {
    /// Start tracking a query (API syntax, see `repro arxiv search --help`).
    #[arg(long, value_name = "QUERY", group = "action")]
    pub add: Option<String>,
    /// Stop tracking a query, given by its text or its number in --list.
    #[arg(long, value_name = "QUERY|N", group = "action")]
    pub remove: Option<String>,
    /// List the tracked queries.
    #[arg(long, group = "action")]
    pub list: bool,
    /// Read today's announcements from the daily feed instead of the tracked queries.
    #[arg(long, group = "action")]
    pub feed: bool,
    /// With --add: restrict the query to a category; with --feed: the categories to read.
    #[arg(long, short = 'c', value_name = "CAT")]
    pub category: Vec<String>,
    /// With --add: results looked at per check.
    #[arg(long, value_name = "N", requires = "add")]
    pub max: Option<usize>,
    /// Look back to this date (YYYY-MM-DD or RFC 3339) instead of the last check.
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Report without recording anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// The state file [default: <root>/papers/tracking.toml].
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The suite's workspace root [default: the first directory up with a `[workspace]` Cargo.toml].
    #[arg(long, env = "REPRO_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// `repro arxiv stub`.
#[derive(Debug, Args)]
#[command(after_help = "\
Creates papers/<name>/ (Cargo.toml, src/lib.rs implementing the suite's Paper trait with no
experiments, published.toml with the metadata and a results template, README.md with abstract and
BibTeX) and registers it in the workspace, the harness and the registry, so that
`make reproduce PAPER=<name>` builds and reports \"no experiments yet\". Never overwrites.

Examples:
  repro arxiv stub 2203.15556                  named from the title: training-compute-optimal
  repro arxiv stub 2005.14165 --name gpt3
  repro arxiv stub 1810.04805 --dry-run        print what would be written")]
pub struct StubArgs {
    /// arXiv id or URL.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Name of the paper (directory and registry id): a-z, 0-9, hyphens [default: from the title].
    #[arg(long, value_name = "SLUG")]
    pub name: Option<String>,
    /// Print the files and edits without writing them.
    #[arg(long)]
    pub dry_run: bool,
    /// The suite's workspace root [default: the first directory up with a `[workspace]` Cargo.toml].
    #[arg(long, env = "REPRO_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// arXiv serves at most this many results of one query.
const MAX_SEARCH_RESULTS: usize = 30_000;

/// Where status lines go: `err`, shared between the commands and the client's log.
type StatusSink<'a> = RefCell<&'a mut dyn Write>;

/// Runs a `repro arxiv` command.
pub fn run(args: &ArxivArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let err: StatusSink<'_> = RefCell::new(err);
    match &args.command {
        ArxivCommand::Show(a) => show(&args.net, a, out, &err),
        ArxivCommand::Search(a) => search(&args.net, a, out, &err),
        ArxivCommand::Track(a) => track_cmd(&args.net, a, out, &err),
        ArxivCommand::Stub(a) => stub_cmd(&args.net, a, out, &err),
    }
}

fn note(err: &StatusSink<'_>, line: &str) {
    let _ = writeln!(err.borrow_mut(), "{line}");
}

/// A client from the flags; `cached` enables the response cache.
fn make_client<'a, 'w: 'a>(
    net: &NetArgs,
    cached: bool,
    err: &'a StatusSink<'w>,
) -> anyhow::Result<Client<'a>> {
    let host = reqwest::Url::parse(&net.api_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    let interval = Duration::try_from_secs_f64(net.request_interval).map_err(|_| {
        Error::Config(format!(
            "--request-interval {} is not a duration",
            net.request_interval
        ))
    })?;
    if interval < client::ARXIV_MIN_INTERVAL
        && host
            .as_deref()
            .is_some_and(|h| h == "arxiv.org" || h.ends_with(".arxiv.org"))
    {
        bail!(
            "--request-interval below 3 s breaks arXiv's terms of use; it is allowed only for other endpoints"
        );
    }
    let ttl = Duration::try_from_secs_f64(net.cache_ttl * 3600.0).map_err(|_| {
        Error::Config(format!(
            "--cache-ttl {} is not a number of hours",
            net.cache_ttl
        ))
    })?;
    let dir = net.cache_dir.clone().unwrap_or_else(cache::default_dir);
    let config = ClientConfig {
        api_url: net.api_url.clone(),
        rss_url: net.rss_url.clone(),
        min_interval: interval,
        cache: (cached && !net.no_cache).then(|| Cache::new(&dir, ttl)),
        stamp_file: Some(dir.join("last-request")),
        ..ClientConfig::default()
    };
    Ok(Client::with_log(config, move |line| note(err, line))?)
}

fn parse_ids(inputs: &[String]) -> anyhow::Result<Vec<ArxivId>> {
    inputs
        .iter()
        .map(|s| ArxivId::parse(s).map_err(anyhow::Error::from))
        .collect()
}

fn show(
    net: &NetArgs,
    args: &ShowArgs,
    out: &mut dyn Write,
    err: &StatusSink<'_>,
) -> anyhow::Result<()> {
    let ids = parse_ids(&args.ids)?;
    let mut client = make_client(net, true, err)?;
    let lookup = client.lookup(&ids)?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &lookup.found)?;
        writeln!(out)?;
    } else {
        for (i, entry) in lookup.found.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            if args.bibtex {
                write!(out, "{}", super::bibtex::to_bibtex(entry))?;
            } else {
                write!(out, "{}", render::entry_details(entry))?;
            }
        }
    }
    if !lookup.missing.is_empty() {
        return Err(
            Error::NotFound(lookup.missing.iter().map(ToString::to_string).collect()).into(),
        );
    }
    Ok(())
}

fn search(
    net: &NetArgs,
    args: &SearchArgs,
    out: &mut dyn Write,
    err: &StatusSink<'_>,
) -> anyhow::Result<()> {
    if args.query.trim().is_empty() && args.category.is_empty() {
        bail!("empty query; try `repro arxiv search 'ti:transformer' --category cs.CL`");
    }
    if !(1..=MAX_SEARCH_RESULTS).contains(&args.max) {
        bail!(
            "--max must be between 1 and {MAX_SEARCH_RESULTS} (the most arXiv serves for one query)"
        );
    }
    let query = TrackedQuery::new(&args.query, &args.category, None).search_query();
    let request = SearchRequest {
        query: query.clone(),
        max_results: args.max,
        sort_by: args.sort,
        sort_order: args.order,
    };
    let mut client = make_client(net, false, err)?;
    let results = client.search(&request)?;
    if args.json {
        let json = serde_json::json!({
            "query": query,
            "total_results": results.total_results,
            "entries": results.entries,
        });
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
    } else if args.bibtex {
        for (i, entry) in results.entries.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            write!(out, "{}", super::bibtex::to_bibtex(entry))?;
        }
    } else {
        for (i, entry) in results.entries.iter().enumerate() {
            writeln!(out, "{:>3}. {}", i + 1, render::entry_line(entry))?;
        }
    }
    let shown = results.entries.len();
    let total = results.total_results;
    let more = if (shown as u64) < total && shown == args.max {
        " (--max for more)"
    } else {
        ""
    };
    note(
        err,
        &format!("{shown} of {total} results for `{query}`{more}"),
    );
    Ok(())
}

/// The workspace root: `--root`/`REPRO_ROOT`, else the nearest directory up from the current one
/// whose Cargo.toml has a `[workspace]` table.
pub fn find_root(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(root) = flag {
        if !root.join("Cargo.toml").is_file() {
            bail!("{} is not a workspace root (no Cargo.toml)", root.display());
        }
        return Ok(root.to_path_buf());
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    for dir in cwd.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest)
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
        {
            return Ok(dir.to_path_buf());
        }
    }
    bail!(
        "not inside the repro workspace (no Cargo.toml with [workspace] above {}); pass --root DIR or set REPRO_ROOT",
        cwd.display()
    )
}

fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            format!("`{s}` is not a date; use YYYY-MM-DD or RFC 3339 (2024-06-01T00:00:00Z)")
        })
}

fn track_cmd(
    net: &NetArgs,
    args: &TrackArgs,
    out: &mut dyn Write,
    err: &StatusSink<'_>,
) -> anyhow::Result<()> {
    let path = match &args.state {
        Some(p) => p.clone(),
        None => find_root(args.root.as_deref())?
            .join("papers")
            .join("tracking.toml"),
    };
    let shown = path.display();
    if let Some(query) = &args.add {
        let mut state = TrackingState::load_or_default(&path)?;
        let tracked = TrackedQuery::new(query, &args.category, args.max);
        let label = tracked.label();
        state.add(tracked)?;
        if !args.dry_run {
            state.save(&path)?;
        }
        writeln!(out, "tracking {label}")?;
        note(
            err,
            &format!(
                "{} {shown}; `repro arxiv track` checks it",
                if args.dry_run {
                    "dry run: not written to"
                } else {
                    "saved in"
                }
            ),
        );
        return Ok(());
    }
    let mut state = TrackingState::load(&path)?;
    if let Some(which) = &args.remove {
        let removed = state.remove(which)?;
        if !args.dry_run {
            state.save(&path)?;
        }
        writeln!(out, "stopped tracking {}", removed.label())?;
        return Ok(());
    }
    if args.list {
        write!(out, "{}", render::tracked_list(&state))?;
        return Ok(());
    }
    let now = Utc::now().trunc_subsecs(0);
    let mut client = make_client(net, false, err)?;
    let mut reports = Vec::new();
    if args.feed {
        let mut feed = state.feed.clone().unwrap_or_default();
        if !args.category.is_empty() {
            feed.categories = args.category.clone();
        }
        if feed.categories.is_empty() {
            bail!("no feed categories: pass --category cs.CL, or set [feed] categories in {shown}");
        }
        reports.push(track::check_feed(&mut client, &mut feed, now)?);
        let stored = state.feed.get_or_insert_with(FeedState::default);
        if stored.categories.is_empty() || stored.categories == feed.categories {
            *stored = feed;
        } else {
            note(
                err,
                "note: --category differs from the tracked feed's categories; findings are not recorded",
            );
        }
    } else {
        if state.queries.is_empty() {
            bail!("{shown} tracks no query; add one with `repro arxiv track --add \"<query>\"`");
        }
        for query in &mut state.queries {
            note(err, &format!("checking {}…", query.label()));
            reports.push(track::check_query(&mut client, query, args.since, now)?);
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &reports)?;
        writeln!(out)?;
    } else {
        for report in &reports {
            write!(out, "{}", render::check_report(report))?;
        }
    }
    let found: usize = reports.iter().map(|r| r.findings.len()).sum();
    if args.dry_run {
        note(
            err,
            &format!("dry run: {found} findings not recorded in {shown}"),
        );
    } else {
        state.save(&path)?;
        note(err, &format!("recorded {found} findings in {shown}"));
    }
    Ok(())
}

fn stub_cmd(
    net: &NetArgs,
    args: &StubArgs,
    out: &mut dyn Write,
    err: &StatusSink<'_>,
) -> anyhow::Result<()> {
    let id = ArxivId::parse(&args.id)?;
    if let Some(name) = &args.name {
        stub::validate_slug(name.trim())?;
    }
    let root = find_root(args.root.as_deref())?;
    let mut client = make_client(net, true, err)?;
    let entry = client.fetch(&id)?;
    let plan = stub::plan(&root, &entry, args.name.as_deref())?;
    if args.dry_run {
        for (path, contents) in &plan.files {
            writeln!(out, "=== would create {}", path.display())?;
            write!(out, "{contents}")?;
        }
        for edit in &plan.edits {
            writeln!(
                out,
                "=== would add to {}:\n{}",
                edit.path.display(),
                edit.line
            )?;
        }
        note(err, "dry run: nothing written");
        return Ok(());
    }
    stub::apply(&root, &plan)?;
    let slug = &plan.slug;
    writeln!(
        out,
        "created papers/{slug}/ for arXiv {}: {}",
        entry.id, entry.title
    )?;
    for (path, _) in &plan.files {
        writeln!(out, "  {}", path.display())?;
    }
    let edited: Vec<String> = plan
        .edits
        .iter()
        .map(|e| e.path.display().to_string())
        .collect();
    writeln!(out, "registered in {}", edited.join(", "))?;
    writeln!(
        out,
        "next: fill papers/{slug}/published.toml from the paper's tables; `make reproduce PAPER={slug}` runs it"
    )?;
    Ok(())
}
