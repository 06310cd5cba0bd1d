import PatchbayVoiceAPI
import Testing

/// `api.allowed_websocket_hosts`: which hosts the control API may make Patchbay dial.
@Suite struct HostPatternsTests {
    @Test("hosts, host:port, *.domain and *; ports default by scheme; nothing allowed when empty")
    func matching() {
        let p = HostPatterns(["agent.example.com", "*.ai.example.com", "10.0.0.7:8443", "LocalHost"])
        #expect(p.allows("wss://agent.example.com/voice"))
        #expect(p.allows("ws://AGENT.example.com:9000/x"))
        #expect(!p.allows("wss://agent.example.com.evil.net/"))
        #expect(p.allows("wss://eu.ai.example.com/x") && p.allows("ws://a.b.ai.example.com/"))
        #expect(!p.allows("wss://ai.example.com/"), "a wildcard matches subdomains only")
        #expect(!p.allows("wss://evilai.example.com/"))
        #expect(p.allows("ws://10.0.0.7:8443/x") && !p.allows("ws://10.0.0.7/x") && !p.allows("ws://10.0.0.7:8444/x"))
        #expect(p.allows("ws://localhost:1234/"))
        #expect(!p.allows("not a url") && !p.allows("ws:///path"))
        #expect(!HostPatterns([]).allows("ws://agent.example.com/"))
        #expect(HostPatterns(["*"]).allows("ws://anything.at.all:1/"))
        let ports = HostPatterns(["secure.example.com:443", "plain.example.com:80"])
        #expect(ports.allows("wss://secure.example.com/") && !ports.allows("ws://secure.example.com/"))
        #expect(ports.allows("ws://plain.example.com/") && !ports.allows("wss://plain.example.com/"))
    }

    @Test("patterns that are not hosts are refused with the pattern named")
    func problems() {
        #expect(HostPatterns.problem(with: "agent.example.com") == nil)
        #expect(HostPatterns.problem(with: "*.example.com:443") == nil)
        for bad in ["", "*.", "a*b.example.com", "host:0", "host:99999", "host:port", "http://x", "a b"] {
            #expect(HostPatterns.problem(with: bad) != nil, "\(bad)")
        }
    }
}
