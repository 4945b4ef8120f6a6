// DnsTest.java - Java fetches by name through socksify (java DnsTest.java HOST PORT PATH).
// Prints one JSON line: the sha256 of the body via HttpURLConnection and via java.net.Socket.
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.Proxy;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

public class DnsTest {
    static String sha256(byte[] b) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (byte x : MessageDigest.getInstance("SHA-256").digest(b))
            sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static byte[] readAll(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        for (int n; (n = in.read(buf)) > 0;)
            out.write(buf, 0, n);
        return out.toByteArray();
    }

    public static void main(String[] a) throws Exception {
        String host = a[0], path = a[2];
        int port = Integer.parseInt(a[1]);
        HttpURLConnection c = (HttpURLConnection) new URL("http://" + host + ":" + port + "/" + path)
                .openConnection(Proxy.NO_PROXY);
        c.setConnectTimeout(20000);
        c.setReadTimeout(20000);
        String viaUrl = sha256(readAll(c.getInputStream()));
        int status = c.getResponseCode();

        String viaSocket;
        String addr;
        try (Socket s = new Socket(host, port)) {
            s.setSoTimeout(20000);
            addr = s.getInetAddress().getHostAddress();
            OutputStream o = s.getOutputStream();
            o.write(("GET /" + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            o.flush();
            byte[] all = readAll(s.getInputStream());
            int i = 0;
            while (!(all[i] == '\r' && all[i + 1] == '\n' && all[i + 2] == '\r' && all[i + 3] == '\n'))
                i++;
            byte[] body = new byte[all.length - i - 4];
            System.arraycopy(all, i + 4, body, 0, body.length);
            viaSocket = sha256(body);
        }
        System.out.println("{\"status\": " + status + ", \"url_sha256\": \"" + viaUrl + "\", \"socket_sha256\": \""
                + viaSocket + "\", \"socket_addr\": \"" + addr + "\"}");
    }
}
