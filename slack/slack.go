// Package slack posts a report's summary to a Slack incoming webhook as Block Kit with
// plain fallback text. It keeps within Slack's limits (50 blocks a message, 3,000
// characters a section, 150 a header): a fleet with hundreds of candidates yields a
// summary that says what it left out, never an error. The webhook URL is a credential
// and appears in no error or log.
package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/janitorhq/janitor/internal/human"
	"github.com/janitorhq/janitor/report"
)

// Slack's limits.
const (
	MaxBlocks      = 50
	MaxSectionText = 3000
	MaxHeaderText  = 150
	// maxTablesPerShard bounds the tables listed under one shard.
	maxTablesPerShard = 8
)

// Message is an incoming-webhook payload.
type Message struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit block (header, section, divider or context).
type Block struct {
	Type     string  `json:"type"`
	Text     *Text   `json:"text,omitempty"`
	Elements []*Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func section(s string) Block {
	return Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: clip(s, MaxSectionText)}}
}

// escape makes text safe for mrkdwn: &, < and > are control characters there.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(report.Printable(s))
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func title(r *report.Report) string {
	if r.Partition != "" {
		// Each pod of an Indexed Job posts its own share: say which.
		return titleOfMode(r) + ", partition " + r.Partition
	}
	return titleOfMode(r)
}

func titleOfMode(r *report.Report) string {
	switch r.Mode {
	case report.ModeExecute:
		return "janitor run --execute"
	case report.ModeDryRun:
		return "janitor run (dry run)"
	}
	return "janitor report (dry run)"
}

// Build turns a report into a message within Slack's limits.
func Build(r *report.Report) Message {
	var failedShards, drop, dropped int
	for _, s := range r.Shards {
		if s.Error != "" {
			failedShards++
		}
		for _, t := range s.Tables {
			if t.Verdict == "drop" {
				drop++
			}
			if t.Outcome == report.OutcomeDropped {
				dropped++
			}
		}
	}
	summary := fmt.Sprintf("%d shard(s), %d leftover(s) to drop, %s reclaimable", len(r.Shards), drop, human.Bytes(r.ReclaimableBytes))
	if r.ReclaimedBytes != nil {
		summary += fmt.Sprintf(", %s reclaimed (%d dropped)", human.Bytes(*r.ReclaimedBytes), dropped)
	}
	if failedShards > 0 {
		summary += fmt.Sprintf(", %d shard(s) failed", failedShards)
	}
	msg := Message{Text: title(r) + ": " + summary}
	msg.Blocks = append(msg.Blocks,
		Block{Type: "header", Text: &Text{Type: "plain_text", Text: clip(title(r), MaxHeaderText)}},
		section("*"+escape(summary)+"*"),
		Block{Type: "divider"})
	// Shards that need attention first, then by bytes.
	shards := append([]report.Shard(nil), r.Shards...)
	sort.SliceStable(shards, func(i, j int) bool {
		ai := shards[i].Error != "" || shards[i].Blocked != "" || len(shards[i].Warnings) > 0 || restored(shards[i]) || shards[i].ReadsInvisible != ""
		aj := shards[j].Error != "" || shards[j].Blocked != "" || len(shards[j].Warnings) > 0 || restored(shards[j]) || shards[j].ReadsInvisible != ""
		if ai != aj {
			return ai
		}
		return shards[i].ReclaimableBytes > shards[j].ReclaimableBytes
	})
	room := MaxBlocks - len(msg.Blocks) - 1 // one for the footer
	shown := 0
	for _, s := range shards {
		if shown == room {
			break
		}
		msg.Blocks = append(msg.Blocks, section(shardText(s)))
		shown++
	}
	if rest := shards[shown:]; len(rest) > 0 {
		var bytes int64
		for _, s := range rest {
			bytes += s.ReclaimableBytes
		}
		msg.Blocks = append(msg.Blocks, Block{Type: "context", Elements: []*Text{{Type: "mrkdwn",
			Text: fmt.Sprintf("…and %d more shard(s) (%s reclaimable) not shown: see the JSON report", len(rest), human.Bytes(bytes))}}})
	}
	return msg
}

// restored reports whether a run restored a held table on the shard.
func restored(s report.Shard) bool {
	for _, t := range s.Tables {
		if t.Outcome == report.OutcomeRestored {
			return true
		}
	}
	return false
}

func shardText(s report.Shard) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", escape(s.Name))
	if s.Error != "" {
		fmt.Fprintf(&b, " :x: %s", escape(s.Error))
		return b.String()
	}
	var drop, failed, deferred, held int
	var heldBytes int64
	var firstEnd *time.Time
	skipped := map[string]int{}
	for _, t := range s.Tables {
		switch {
		case t.Outcome == report.OutcomeFailed:
			failed++
		case t.Outcome == report.OutcomeDeferred:
			deferred++
		}
		if t.Verdict == "drop" {
			drop++
		} else {
			skipped[t.ReasonCode]++
		}
		if t.Held() {
			held++
			heldBytes += t.Bytes
			if firstEnd == nil || t.HeldUntil.Before(*firstEnd) {
				firstEnd = t.HeldUntil
			}
		}
	}
	fmt.Fprintf(&b, " — %s reclaimable, %d to drop", human.Bytes(s.ReclaimableBytes), drop)
	if held > 0 {
		fmt.Fprintf(&b, ", %d held (%s; the first hold ends %s)", held, human.Bytes(heldBytes), firstEnd.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if s.ReclaimedBytes != nil {
		fmt.Fprintf(&b, ", %s reclaimed", human.Bytes(*s.ReclaimedBytes))
	}
	if failed > 0 {
		fmt.Fprintf(&b, ", :x: %d failed", failed)
	}
	if deferred > 0 {
		fmt.Fprintf(&b, ", %d deferred", deferred)
	}
	if len(skipped) > 0 {
		var parts []string
		for _, k := range sortedKeys(skipped) {
			parts = append(parts, fmt.Sprintf("%s %d", k, skipped[k]))
		}
		fmt.Fprintf(&b, "\nskipped: %s", strings.Join(parts, ", "))
	}
	if s.Blocked != "" {
		fmt.Fprintf(&b, "\n:double_vertical_bar: %s", escape(s.Blocked))
	}
	// A restore means an application failed on a held name: first, with the names.
	for _, t := range s.Tables {
		if t.Outcome == report.OutcomeRestored {
			fmt.Fprintf(&b, "\n:rotating_light: restored `%s` to `%s`: asked for by its original name during the hold",
				strings.ReplaceAll(escape(t.Schema+"."+t.Table), "`", "'"), strings.ReplaceAll(escape(t.Schema+"."+t.OriginalTable), "`", "'"))
		}
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(&b, "\n:warning: %s", escape(w))
	}
	if s.ReadsInvisible != "" {
		fmt.Fprintf(&b, "\n:see_no_evil: %s", escape(s.ReadsInvisible))
	}
	if len(s.ThrottleWaitSeconds) > 0 {
		var parts []string
		for _, k := range sortedKeys(s.ThrottleWaitSeconds) {
			parts = append(parts, fmt.Sprintf("%s %.0fs", escape(k), s.ThrottleWaitSeconds[k]))
		}
		fmt.Fprintf(&b, "\nthrottle waits: %s", strings.Join(parts, ", "))
	}
	// The largest tables to drop (or dropped, or failed), as many as fit.
	var rows []report.Table
	for _, t := range s.Tables {
		if t.Verdict == "drop" || t.Outcome == report.OutcomeFailed {
			rows = append(rows, t)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Bytes > rows[j].Bytes })
	listed := 0
	for _, t := range rows {
		state := t.Verdict
		if t.Outcome != "" {
			state = t.Outcome
		}
		line := fmt.Sprintf("\n• `%s` %s, %s (%s)", strings.ReplaceAll(escape(t.Schema+"."+t.Table), "`", "'"), state, human.Bytes(t.Bytes), t.Tool)
		if t.HeldUntil != nil && t.Outcome == report.OutcomeHeld {
			line += " until " + t.HeldUntil.UTC().Format("2006-01-02 15:04 UTC")
		}
		if listed == maxTablesPerShard || b.Len()+len(line)+80 > MaxSectionText {
			break
		}
		b.WriteString(line)
		listed++
	}
	if more := len(rows) - listed; more > 0 {
		fmt.Fprintf(&b, "\n…and %d more", more)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Client posts to one webhook.
type Client struct {
	url     string
	http    *http.Client
	log     *slog.Logger
	retries int
}

// New returns a Client; timeout bounds each HTTP attempt.
func New(webhookURL string, timeout time.Duration, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{url: webhookURL, http: &http.Client{Timeout: timeout}, log: log, retries: 3}
}

// ErrRejected is returned when Slack refuses the message (a 4xx other than 429).
var ErrRejected = errors.New("slack webhook rejected the message")

// Post sends the report's summary. It retries on 429 (honouring Retry-After) and 5xx.
func (c *Client) Post(ctx context.Context, r *report.Report) error {
	body, err := json.Marshal(Build(r))
	if err != nil {
		return fmt.Errorf("encode slack message: %w", err)
	}
	backoff := time.Second
	for attempt := 0; ; attempt++ {
		status, text, retryAfter, err := c.once(ctx, body)
		switch {
		case err == nil && status/100 == 2:
			return nil
		case err == nil && status != http.StatusTooManyRequests && status/100 == 4:
			return fmt.Errorf("%w: HTTP %d: %s", ErrRejected, status, clip(text, 200))
		case attempt >= c.retries:
			if err != nil {
				return fmt.Errorf("post to slack webhook: %w", err)
			}
			return fmt.Errorf("post to slack webhook: HTTP %d after %d attempts: %s", status, attempt+1, clip(text, 200))
		}
		wait := backoff
		if status == http.StatusTooManyRequests && retryAfter > 0 {
			wait = retryAfter
		}
		backoff *= 2
		c.log.WarnContext(ctx, "slack webhook: retrying", "status", status, "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("post to slack webhook: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// once makes one attempt. Errors never carry the URL: net/http's do.
func (c *Client) once(ctx context.Context, body []byte) (status int, text string, retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, errors.New("invalid webhook URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap() // *url.Error names the URL; its cause does not
		}
		return 0, "", 0, errors.New(strings.ReplaceAll(err.Error(), c.url, "<webhook>"))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			retryAfter = time.Duration(n) * time.Second
		}
	}
	return resp.StatusCode, strings.TrimSpace(string(b)), retryAfter, nil
}
