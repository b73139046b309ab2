"""Where frames come from: capture files (pcap, pcapng, gzip, stdin) and live interfaces."""
