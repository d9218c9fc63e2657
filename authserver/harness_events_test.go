package authserver

import "sync"

// eventLog collects the events a test server hands to Config.Events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

// record is a Config.Events function.
func (l *eventLog) record(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// take returns the events so far and forgets them.
func (l *eventLog) take() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

// matching returns the events so far with the name and, if not empty,
// the method and outcome.
func (l *eventLog) matching(name, method, outcome string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, e := range l.events {
		if e.Name == name && (method == "" || e.Method == method) && (outcome == "" || e.Outcome == outcome) {
			out = append(out, e)
		}
	}
	return out
}
