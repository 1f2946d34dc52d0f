"""Gets an access token from an authmesh gateway over gRPC (authmesh.token.v1.TokenService).

Run ./generate.sh first; it writes the stubs to ./gen (or pass --stubs DIR). The client
authenticates with a client secret, or with a private key it signs an RFC 7523 assertion with.
Prints one JSON object: the token response, plus the tenant's JWK Set with --jwks. A refused call
prints {"error": <oauth-error>, "grpc_status": <name>, "message": ...} and exits with 1.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid

ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--target', required=True, help='gateway gRPC address, e.g. 127.0.0.1:50050')
    p.add_argument('--tenant', required=True)
    p.add_argument('--client-id', required=True)
    p.add_argument('--scope', required=True, help='<resource>/.default')
    cred = p.add_mutually_exclusive_group(required=True)
    cred.add_argument('--client-secret-file', help='file holding the client secret')
    cred.add_argument('--private-key', help='PEM private key (EC P-256 or RSA) of a certificate credential')
    p.add_argument('--audience', help='assertion aud: the token endpoint <issuer>/<tenant>/oauth2/v2.0/token (with --private-key)')
    p.add_argument('--ca-file', help='trust this CA and use TLS (default: plaintext)')
    p.add_argument('--jwks', action='store_true', help='also fetch the JWK Set with GetJwks')
    p.add_argument('--stubs', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'gen'))
    args = p.parse_args()
    if args.private_key and not args.audience:
        p.error('--private-key needs --audience')
    return args


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def key_id(key):
    """The key's RFC 7638 JWK thumbprint, the kid authmesh registers a certificate credential under.

    Authlib's own thumbprint() drops leading zero bytes of an EC key's x and y, which RFC 7518
    section 6.2.1.2 forbids (they are always the curve's full size, 32 bytes for P-256), so for about
    one P-256 key in 128 it names a key no server knows. The members are built here instead.
    """
    if key.kty != 'EC':
        return key.thumbprint()  # RSA's n and e are minimal by definition: Authlib is right there
    numbers = key.get_public_key().public_numbers()
    size = (numbers.curve.key_size + 7) // 8
    members = {'crv': key.as_dict()['crv'], 'kty': 'EC', 'x': b64url(numbers.x.to_bytes(size, 'big')), 'y': b64url(numbers.y.to_bytes(size, 'big'))}
    canonical = json.dumps(members, separators=(',', ':'), sort_keys=True).encode('ascii')
    return b64url(hashlib.sha256(canonical).digest())


def client_assertion(client_id, key_path, audience):
    """An RFC 7523 client assertion: iss = sub = client id, aud = the token endpoint, 5 minutes."""
    from authlib.jose import JsonWebKey, jwt

    key = JsonWebKey.import_key(open(key_path, 'rb').read())
    alg = 'ES256' if key.kty == 'EC' else 'RS256'
    now = int(time.time())
    claims = {'iss': client_id, 'sub': client_id, 'aud': audience, 'iat': now, 'nbf': now, 'exp': now + 300, 'jti': str(uuid.uuid4())}
    header = {'alg': alg, 'typ': 'JWT', 'kid': key_id(key)}
    return jwt.encode(header, claims, key).decode('ascii')


def main():
    args = parse_args()
    sys.path.insert(0, args.stubs)
    import grpc
    from authmesh.token.v1 import token_pb2, token_pb2_grpc

    if args.ca_file:
        channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials(open(args.ca_file, 'rb').read()))
    else:
        channel = grpc.insecure_channel(args.target)
    stub = token_pb2_grpc.TokenServiceStub(channel)

    request = token_pb2.AcquireTokenRequest(tenant_id=args.tenant, client_id=args.client_id, scope=args.scope)
    if args.client_secret_file:
        request.client_secret = open(args.client_secret_file).read().strip()
    else:
        request.client_assertion = client_assertion(args.client_id, args.private_key, args.audience)
        request.client_assertion_type = ASSERTION_TYPE

    try:
        response, call = stub.AcquireToken.with_call(request, timeout=10)
        out = {
            'access_token': response.access_token,
            'token_type': response.token_type,
            'expires_in': response.expires_in,
            'refresh_in': response.refresh_in,
            'fault_domain': response.fault_domain,
        }
        if args.jwks:
            out['jwks'] = json.loads(stub.GetJwks(token_pb2.GetJwksRequest(tenant_id=args.tenant), timeout=10).jwks_json)
    except grpc.RpcError as e:
        trailers = dict(e.trailing_metadata() or ())
        print(json.dumps({'error': trailers.get('oauth-error'), 'grpc_status': e.code().name, 'message': e.details()}))
        return 1
    finally:
        channel.close()
    print(json.dumps(out))
    return 0


if __name__ == '__main__':
    sys.exit(main())
