// Package agent runs chat turns: it streams a model's answer, calls the
// tools the model asks for on external MCP servers as the signed-in user,
// and pauses the turn when a tool needs an account the user has not
// connected.
//
// # Design note: the consent gate and the paused turn
//
// One tool call walks this path:
//
//	model ──► gate ──► vault (token, maybe refresh) ──► MCP server
//	            │                                          │
//	            └── no usable token ──► interrupt ◄── 401 after one silent
//	                                                  refresh and retry
//
// A turn is a loop of model steps. Each step's tool calls run in order.
// A call whose provider has no usable token, or whose server rejects the
// token even after a silent refresh, does not run: it becomes an
// interrupt. Calls in the same step that need no consent still run and
// their results are kept. When a step ends with interrupts, the turn
// pauses: the conversation so far, the step's pending calls with their
// arguments, the finished results and the settings go into the database
// as one paused turn (store.PausedTurn), an oauth_required event is sent
// per interrupted call, and the stream ends with stop_reason "interrupt".
// Calls to one provider share one consent.
//
// Resuming rebuilds the turn from the database, never from what the client
// sends, so it works after a browser refresh, a server restart or on
// another replica. Only the interrupted calls run again: with a token now
// they run; declined or still without a token, their result tells the
// model the user did not authorize that provider. The turn then goes on
// from the same step, and the answer streams on.
//
// Each provider is prompted at most once per turn (the paused state
// carries the set across a resume). After that, a call that would need
// consent for it again, because the server rejected the new token or the
// vault has none, goes to the model as an error result, so a server that
// always answers 401 cannot loop the user through consent.
//
// A session runs one turn at a time: a lease on the session row, renewed
// while the turn runs, makes a second concurrent turn fail with a clear
// error on any replica. Each request holds the lease under its own id,
// and reads and claims the paused turn only while it holds the lease, so
// of two requests resuming one turn only one runs it. A request rejected
// before it claims the paused turn changes nothing. The lease is released
// before the done event, so a client may send its next request at once.
//
// Every tool call the model made gets a stored result: run, failed,
// declined or cancelled, also when a new message replaces a paused turn
// or the client goes away. A call left without one, because a process
// died during the call, gets a cancelled result when the conversation is
// next sent to a model, since model APIs reject unanswered calls.
package agent
