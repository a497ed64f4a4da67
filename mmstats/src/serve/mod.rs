//! The HTTP server behind `mmstats serve` (feature `serve`): the JSON API,
//! the live dashboard and the Prometheus exporter.
//!
//! Every request reads the files afresh through [`crate::reader`]: nothing
//! is cached, so an answer is never older than the request. The HTTP side
//! ([`http`]) is hyper on a small tokio runtime; what each route answers
//! ([`routes`], [`crate::export`]) is plain blocking code that runs on
//! tokio's bounded pool of blocking threads, and can be called without the
//! server: [`routes::respond`] answers a path and query as the server would.
//!
//! ```no_run
//! let state = mmstats::serve::State::new(Vec::new(), None);
//! let address = "127.0.0.1:0".parse().unwrap();
//! let server = mmstats::serve::Server::bind(address, state)?;
//! println!("listening on http://{}/", server.local_addr());
//! server.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod http;
pub mod routes;

pub use http::Server;
pub use routes::{respond, Reply, State};
