//! The stdio transport of the MCP server: newline-delimited JSON-RPC messages, each line at
//! most a bounded size.
//!
//! rmcp's own stdio transport drops a line that is not JSON, or too long, without a word;
//! this one answers it with a JSON-RPC error (parse error, or invalid request naming the
//! limit) and reads on, so a client always learns why its message did nothing. Messages are
//! still parsed and handled by rmcp: this is only the framing.

use std::future::Future;
use std::io;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ErrorData, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// Newline-delimited JSON-RPC over a reader and a writer, with lines of at most `max_line`
/// bytes.
pub(crate) struct LineTransport<R, W> {
    read: BufReader<R>,
    write: Arc<Mutex<W>>,
    max_line: usize,
    /// The line read so far: kept here, because `receive` may be cancelled between reads.
    line: Vec<u8>,
    /// Bytes of the current line, when it has outgrown `max_line` (and is being skipped).
    skipped: Option<usize>,
}

/// What one complete line turned out to be.
enum Line {
    Text(Vec<u8>),
    Oversized(usize),
    Eof,
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(read: R, write: W, max_line: usize) -> Self {
        LineTransport {
            read: BufReader::new(read),
            write: Arc::new(Mutex::new(write)),
            max_line,
            line: Vec::new(),
            skipped: None,
        }
    }

    /// Reads up to the next newline without holding more than `max_line` bytes; safe to
    /// cancel between awaits.
    async fn read_line(&mut self) -> io::Result<Line> {
        loop {
            let buf = self.read.fill_buf().await?;
            if buf.is_empty() {
                // A last line without a newline is incomplete: nothing to deliver.
                return Ok(Line::Eof);
            }
            let end = buf.iter().position(|&b| b == b'\n');
            let chunk = &buf[..end.unwrap_or(buf.len())];
            match &mut self.skipped {
                Some(total) => *total += chunk.len(),
                None if self.line.len() + chunk.len() > self.max_line => {
                    self.skipped = Some(self.line.len() + chunk.len());
                    self.line = Vec::new();
                }
                None => self.line.extend_from_slice(chunk),
            }
            let consumed = end.map_or(chunk.len(), |e| e + 1);
            self.read.consume(consumed);
            if end.is_some() {
                return Ok(match self.skipped.take() {
                    Some(total) => Line::Oversized(total),
                    None => Line::Text(std::mem::take(&mut self.line)),
                });
            }
        }
    }

    /// Answers a line that is no message, in the background: the reply is written whole even
    /// if `receive` is cancelled.
    /// The error carries `"id": null` when the id is unknown, as JSON-RPC 2.0 asks (and
    /// clients of protocol versions before 2026-07-28 require).
    fn reply(&self, error: ErrorData, id: Option<RequestId>) {
        let reply = serde_json::json!({ "jsonrpc": "2.0", "id": id, "error": error });
        let send = write_message(Arc::clone(&self.write), reply);
        tokio::spawn(async move {
            if let Err(e) = send.await {
                tracing::warn!("cannot answer a malformed message: {e}");
            }
        });
    }
}

async fn write_message<W: AsyncWrite + Unpin>(
    write: Arc<Mutex<W>>,
    message: impl serde::Serialize,
) -> io::Result<()> {
    let mut line = serde_json::to_vec(&message).map_err(io::Error::other)?;
    line.push(b'\n');
    let mut write = write.lock().await;
    write.write_all(&line).await?;
    write.flush().await
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        write_message(Arc::clone(&self.write), item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let line = match self.read_line().await {
                Ok(Line::Text(line)) => line,
                Ok(Line::Oversized(bytes)) => {
                    tracing::warn!(bytes, limit = self.max_line, "request too large, refused");
                    self.reply(
                        ErrorData::invalid_request(
                            format!(
                                "request of {bytes} bytes refused: the limit is {} bytes; nothing was done",
                                self.max_line
                            ),
                            None,
                        ),
                        None,
                    );
                    continue;
                }
                Ok(Line::Eof) => return None,
                Err(e) => {
                    tracing::error!("cannot read stdin: {e}");
                    return None;
                }
            };
            let text = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: serde_json::Value = match serde_json::from_slice(text) {
                Ok(value) => value,
                Err(e) => {
                    tracing::debug!("not JSON: {e}");
                    self.reply(ErrorData::parse_error(format!("not JSON: {e}"), None), None);
                    continue;
                }
            };
            let id = value
                .get("id")
                .cloned()
                .and_then(|id| serde_json::from_value::<RequestId>(id).ok());
            let notification = id.is_none() && value.get("method").is_some();
            match serde_json::from_value::<RxJsonRpcMessage<RoleServer>>(value) {
                Ok(message) => return Some(message),
                // A notification gets no answer, even a broken one.
                Err(e) if notification => {
                    tracing::debug!("ignoring a malformed notification: {e}")
                }
                Err(e) => self.reply(
                    ErrorData::invalid_request(format!("not a JSON-RPC request: {e}"), None),
                    id,
                ),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_garbage_and_oversized_lines_then_reads_on() {
        let (mut client, server_in) = tokio::io::duplex(1 << 16);
        let (server_out, replies) = tokio::io::duplex(1 << 16);
        let mut transport = LineTransport::new(server_in, server_out, 64);
        let mut input = b"{not json\n".to_vec();
        input.extend_from_slice(&[b'x'; 200]);
        input.push(b'\n');
        input.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}\n");
        client.write_all(&input).await.expect("write");

        let message = transport
            .receive()
            .await
            .expect("the ping after the bad lines");
        let message = serde_json::to_value(&message).expect("encode");
        assert_eq!(message["id"], 3, "{message}");

        let mut lines = BufReader::new(replies).lines();
        let mut codes = Vec::new();
        for _ in 0..2 {
            let line = lines.next_line().await.expect("read").expect("a reply");
            let reply: serde_json::Value = serde_json::from_str(&line).expect("JSON reply");
            assert!(reply["id"].is_null(), "{reply}");
            codes.push(reply["error"]["code"].as_i64().expect("an error code"));
        }
        codes.sort();
        assert_eq!(codes, [-32700, -32600]);

        drop(client);
        assert!(transport.receive().await.is_none(), "EOF ends the session");
    }
}
